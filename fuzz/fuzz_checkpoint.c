/*
fuzz_checkpoint.c: the checkpoint loader.

An input is a checkpoint file. It is loaded twice: as it is (almost every mutation then fails the
size or checksum check), and with its last 8 bytes replaced by the right checksum, so that mutated
headers, configs and parameters get past the checksum into model_create. A checkpoint that loads
must have a config that passes config_valid, and the model it gives must run: one forward and
backward pass on a few tokens, then save and load again to the same parameters.

The seeds (fuzz/seeds/checkpoint) are small valid checkpoints; R1_FUZZ_WRITE_SEEDS=DIR
./fuzz_checkpoint writes them again (after a change of the checkpoint format).
*/
#include "fuzz_r1.h"

static void check(int ok, const char *what) { if (!ok) fuzz_fail(what); }

// the smallest configs: one dense layer; two layers, the second MoE
static const Config SEED_DENSE = { VOCAB_SIZE, 8, 2, 1, 1, 0, 2, 1, 1, 1, 1, 2, 0, 0, 0 };
static const Config SEED_MOE = { VOCAB_SIZE, 8, 4, 2, 2, 2, 2, 2, 2, 2, 1, 3, 4, 2, 2 };

static void write_seeds(const char *dir) {
    char path[600];
    Model *m = model_create(&SEED_DENSE, "seed", 1);
    snprintf(path, sizeof path, "%s/dense.bin", dir);
    checkpoint_save(path, m, 0, 0, 0);
    model_free(m);
    m = model_create(&SEED_MOE, "seed", 2);
    for (size_t i = 0; i < m->num_params; i++) { m->m_mem[i] = 0.01f * (float)(i % 7); m->v_mem[i] = 1e-4f * (float)(i % 5); }
    m->router_bias[1][0] = 0.01f; m->step = 3;
    snprintf(path, sizeof path, "%s/moe_with_optimizer.bin", dir);
    checkpoint_save(path, m, 1, 12345, 6);
    model_free(m);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc; (void)argv;
    const char *dir = getenv("R1_FUZZ_WRITE_SEEDS");
    if (dir) {
        if (setjmp(fuzz_exit_jump) == 0) write_seeds(dir);
        else fuzz_fail("writing the seeds failed");
        printf("wrote %s/dense.bin and %s/moe_with_optimizer.bin\n", dir, dir);
        exit(0);
    }
    return 0;
}

static void fuzz_load(const uint8_t *data, size_t size) {
    const char *path = fuzz_write_file(data, size);
    if (setjmp(fuzz_exit_jump) == 0) {
        uint64_t rng_state;
        int data_pos;
        Model *m = checkpoint_load(path, &rng_state, &data_pos);
        check(config_valid(&m->cfg), "a checkpoint with an invalid config loaded");
        // the model runs: forward and backward on T tokens
        int T = imin(4, m->cfg.context), tokens[4] = { TOK_THINK, N_SPECIAL, N_SPECIAL + 10, TOK_EOS };
        float w[4] = { 0.25f, 0.25f, 0.25f, 0.25f };
        model_zero_grad(m);
        model_forward(m, tokens, NULL, 1, T, NULL, 0);
        crossentropy_forward_backward(m->dlogits, m->logits, tokens, w, T, m->cfg.vocab);
        model_backward(m);
        // save and load again: the same parameters
        char again[80];
        snprintf(again, sizeof again, "%s.again", path);
        checkpoint_save(again, m, 1, rng_state, data_pos);
        Model *m2 = checkpoint_load(again, NULL, NULL);
        remove(again);
        check(m2->num_params == m->num_params && memcmp(m2->params_mem, m->params_mem, m->num_params * sizeof(float)) == 0,
              "save(load(checkpoint)) does not load to the same parameters");
        model_free(m2);
        model_free(m);
    }
    fuzz_release();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_load(data, size);
    if (size >= 8) {  // again with the right checksum in the last 8 bytes
        uint8_t *fixed = malloc(size);
        memcpy(fixed, data, size);
        uint64_t sum = fnv1a(0xcbf29ce484222325ull, fixed, size - 8);
        memcpy(fixed + size - 8, &sum, 8);
        fuzz_load(fixed, size);
        free(fixed);
    }
    return 0;
}
