// wrong: the mean is forgotten: dot is not divided by C
    // exercise 1 begin: RMSNorm backward
    #pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) {
        const float *x = inp + (size_t)n * C, *dy = dout + (size_t)n * C;
        float r = rstd[n], dot = 0.0f;
        for (int i = 0; i < C; i++) dot += dy[i] * weight[i] * x[i];
        for (int i = 0; i < C; i++)
            dinp[(size_t)n * C + i] += r * dy[i] * weight[i] - x[i] * r * r * r * dot;
    }
    for (int n = 0; n < N; n++)
        for (int i = 0; i < C; i++) dweight[i] += dout[(size_t)n * C + i] * inp[(size_t)n * C + i] * rstd[n];
    // exercise 1 end
