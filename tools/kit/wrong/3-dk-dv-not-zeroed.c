// wrong: dk and dv are not zeroed before they collect from the queries
    // exercise 3 begin: attention backward
    float scale = 1.0f / sqrtf((float)HS);
    #pragma omp parallel for collapse(2) schedule(static)
    for (int b = 0; b < B; b++)
        for (int h = 0; h < NH; h++)
            for (int t = 0; t < T; t++) {
                size_t row = ((size_t)b * T + t) * NH + h;  // (b, t, h)
                const float *a = att + (((size_t)b * NH + h) * T + t) * T, *dy = dout + row * HV;
                const float *q_t = q + row * HS;
                float *da = datt + (((size_t)b * NH + h) * T + t) * T, *dq_t = dq + row * HS;
                // through the weighted sum of the values: da_t2 = dy . v_t2,  dv_t2 += a_t2 dy
                float dsum = 0.0f;
                for (int t2 = 0; t2 <= t; t2++) {
                    size_t row2 = ((size_t)b * T + t2) * NH + h;
                    float d = 0.0f;
                    for (int i = 0; i < HV; i++) d += dy[i] * v[row2 * HV + i];
                    da[t2] = d;
                    for (int i = 0; i < HV; i++) dv[row2 * HV + i] += a[t2] * dy[i];
                    dsum += a[t2] * da[t2];
                }
                // through the softmax (ds_t2 = a_t2 (da_t2 - sum a da) / sqrt(HS), kept in da) and the
                // scores: dq_t = sum ds_t2 k_t2,  dk_t2 += ds_t2 q_t
                for (int i = 0; i < HS; i++) dq_t[i] = 0.0f;
                for (int t2 = 0; t2 <= t; t2++) {
                    size_t row2 = ((size_t)b * T + t2) * NH + h;
                    da[t2] = a[t2] * (da[t2] - dsum) * scale;
                    for (int i = 0; i < HS; i++) dq_t[i] += da[t2] * k[row2 * HS + i];
                    for (int i = 0; i < HS; i++) dk[row2 * HS + i] += da[t2] * q_t[i];
                }
            }
    // exercise 3 end
