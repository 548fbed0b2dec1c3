// tools/mpi_compare.c: two checkpoints compared (tools/test_mpi.sh): their steps, and the largest
// difference of their parameters and of their router biases. Exit status 0 when both are within TOL.
// usage: tools/mpi_compare A.bin B.bin TOL
#define TESTING
#pragma GCC diagnostic ignored "-Wunused-function"
#include "../r1.c"

int main(int argc, char **argv) {
    if (argc != 4) die("usage: tools/mpi_compare A.bin B.bin TOL");
    Model *a = checkpoint_load(argv[1], NULL, NULL), *b = checkpoint_load(argv[2], NULL, NULL);
    double tol = atof(argv[3]), params = 0.0, biases = 0.0, largest = 0.0;
    if (a->num_params != b->num_params) die("%s and %s are of different models", argv[1], argv[2]);
    for (size_t i = 0; i < a->num_params; i++) {
        params = fmax(params, fabs((double)a->params_mem[i] - b->params_mem[i]));
        largest = fmax(largest, fabs(a->params_mem[i]));
    }
    for (int l = 0; l < MAX_LAYERS; l++)
        for (int e = 0; e < MAX_EXPERTS; e++)
            biases = fmax(biases, fabs((double)a->router_bias[l][e] - b->router_bias[l][e]));
    printf("steps %d and %d; max |difference| of the %zu parameters %.3g (largest |parameter| %.3g), of the "
           "router biases %.3g\n", a->step, b->step, a->num_params, params, largest, biases);
    return !(a->step == b->step && params <= tol && biases <= tol);
}
