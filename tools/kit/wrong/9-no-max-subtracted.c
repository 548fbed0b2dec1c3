// wrong: the row's maximum is not subtracted before exp (exp overflows for a logit above 88)
    // exercise 9 begin: cross-entropy and its gradient
    double loss = 0.0;
    #pragma omp parallel for reduction(+:loss) schedule(static)
    for (int n = 0; n < N; n++) {
        const float *z = logits + (size_t)n * V;
        float *dz = dlogits + (size_t)n * V;
        if (w[n] == 0.0f) { memset(dz, 0, V * sizeof(float)); continue; }
        float maxv = z[0], sum = 0.0f;
        for (int i = 1; i < V; i++) if (z[i] > maxv) maxv = z[i];
        for (int i = 0; i < V; i++) { dz[i] = expf(z[i]); sum += dz[i]; }
        for (int i = 0; i < V; i++) dz[i] = w[n] * dz[i] / sum;
        dz[targets[n]] -= w[n];
        loss += w[n] * (logf(sum) - z[targets[n]]);
    }
    return (float)loss;
    // exercise 9 end
