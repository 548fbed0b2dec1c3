// wrong: ds is overwritten (=): the balance loss's gradient already in it is lost
    // exercise 7 begin: DeepSeekMoE backward through the gates
    #pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) {
        const float *dy = dout + (size_t)n * C;
        const int *top = A->topk + (size_t)n * K;
        float dgate[MAX_EXPERTS], sum = 0.0f, dot = 0.0f;
        for (int k = 0; k < K; k++) {
            int slot = A->slot_of[(size_t)n * K + k];
            float gk = A->gate[(size_t)n * K + k], d = 0.0f;
            for (int i = 0; i < C; i++) {
                d += dy[i] * A->eout[(size_t)slot * C + i];
                dsl[(size_t)slot * C + i] = gk * dy[i];
            }
            dgate[k] = d;
            sum += A->s[(size_t)n * E + top[k]];
        }
        // gate_k = s_k / sum_j s_j over the chosen j
        for (int k = 0; k < K; k++) dot += dgate[k] * A->s[(size_t)n * E + top[k]];
        for (int k = 0; k < K; k++) ds[(size_t)n * E + top[k]] = dgate[k] / sum - dot / (sum * sum);
    }
    // exercise 7 end
