// wrong: d silu / da taken as s alone (the a s (1 - s) term forgotten)
    // exercise 4 begin: SwiGLU backward, through silu(a) * b
    #pragma omp parallel for schedule(static)
    for (size_t i = 0; i < (size_t)N * F; i++) {
        float sg = 1.0f / (1.0f + e[i]);  // sigmoid(a)
        db[i] = dg[i] * a[i] * sg;
        da[i] = dg[i] * b[i] * sg; // d silu(a)/da = s(1 + a(1-s))
    }
    // exercise 4 end
