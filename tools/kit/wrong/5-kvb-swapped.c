// wrong: dkvb per head written as [d v ; d k_nope] instead of [d k_nope ; d v]
    // exercise 5 begin: MLA: the gradient of the shared RoPE key
    // split the key gradient: no-position parts per head, the shared RoPE key summed over heads
    memset(dkva, 0, (size_t)N * (R + dr) * sizeof(float));
    for (int n = 0; n < N; n++) {
        for (int h = 0; h < NH; h++) {
            const float *dkh = dk + ((size_t)n * NH + h) * dqk;
            float *d = dkvb + ((size_t)n * NH + h) * (dn + dv);
            memcpy(d + dv, dkh, dn * sizeof(float));
            memcpy(d, dvv + ((size_t)n * NH + h) * dv, dv * sizeof(float));
            for (int i = 0; i < dr; i++) dkva[(size_t)n * (R + dr) + R + i] += dkh[dn + i];
        }
    }
    rope_backward(dkva, N, T, 0, 1, R + dr, R, dr);
    // exercise 5 end
