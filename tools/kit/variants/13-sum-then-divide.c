// a correct variant: the mean as a sum divided once, the division as a multiplication by a reciprocal
    // exercise 13 begin: group-normalised advantages
    float batch_std = sample_std(reward, n_groups * G);
    for (int g = 0; g < n_groups; g++) {
        const float *r = reward + g * G;
        float mean = 0.0f, lo = r[0], hi = r[0];
        for (int i = 0; i < G; i++) { mean += r[i]; lo = fminf(lo, r[i]); hi = fmaxf(hi, r[i]); }
        mean /= G;
        // exactly 0, no rounding
        if (lo == hi) { for (int i = 0; i < G; i++) adv[g * G + i] = 0.0f; continue; }
        float std = scale == SCALE_GROUP ? sample_std(r, G) : batch_std;
        for (int i = 0; i < G; i++)
            adv[g * G + i] = scale == SCALE_NONE ? r[i] - mean : (r[i] - mean) * (1.0f / (std + 1e-4f));
    }
    // exercise 13 end
