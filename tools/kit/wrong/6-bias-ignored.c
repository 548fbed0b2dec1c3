// wrong: the top-k chosen by s alone: the bias does not choose
    // exercise 6 begin: DeepSeekMoE routing: biased top-k, renormalised gates
    for (int n = 0; n < N; n++) {
        float *s = A->s + (size_t)n * E;
        for (int e = 0; e < E; e++) s[e] = sigmoidf(s[e]);
        int *top = A->topk + (size_t)n * K;
        float sum = 0.0f;
        for (int k = 0; k < K; k++) {
            int best = -1;
            for (int e = 0; e < E; e++) {
                int taken = 0;
                for (int j = 0; j < k; j++) taken |= top[j] == e;
                if (!taken && (best < 0 || s[e] > s[best])) best = e;
            }
            top[k] = best;
            sum += s[best];
            count[best]++;
        }
        for (int k = 0; k < K; k++) A->gate[(size_t)n * K + k] = s[top[k]] / sum;
    }
    // exercise 6 end
