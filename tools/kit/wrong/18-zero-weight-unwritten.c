// wrong: a token of weight 0 keeps whatever its gradient held (skipped before it is zeroed)
    // exercise 18 begin: the distillation loss and its gradient
    double loss = 0.0;
    #pragma omp parallel for reduction(+:loss) schedule(static)
    for (int n = 0; n < N; n++) {
        float *dz = dlogits + (size_t)n * V;
        if (w[n] == 0.0f) continue;
        memset(dz, 0, V * sizeof(float));
        const float *zs = student + (size_t)n * V, *zt = teacher + (size_t)n * V;
        // student, teacher at temperature tau; student at 1
        float ps[256] = {0}, pt[256] = {0}, p1[256] = {0};
        softmax(ps, zs, V, tau, -1);
        softmax(pt, zt, V, tau, -1);
        softmax(p1, zs, V, 1.0f, -1);
        float kl = 0.0f;
        for (int i = 0; i < V; i++) if (pt[i] > 0) kl += pt[i] * (logf(pt[i]) - logf(fmaxf(ps[i], 1e-30f)));
        float ce = -logf(fmaxf(p1[targets[n]], 1e-30f));
        loss += w[n] * (alpha * tau * tau * kl + (1.0f - alpha) * ce);
        // d(tau^2 KL)/dz_s = tau (p_s - p_t);  d CE/dz = p - onehot
        for (int i = 0; i < V; i++) dz[i] = w[n] * (alpha * tau * (ps[i] - pt[i]) + (1.0f - alpha) * p1[i]);
        dz[targets[n]] -= w[n] * (1.0f - alpha);
    }
    return (float)loss;
    // exercise 18 end
