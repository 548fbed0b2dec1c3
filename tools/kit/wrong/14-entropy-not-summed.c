// wrong: the entropy of the tokens is not summed (ent_sum, the log's entropy column, stays 0)
        // exercise 14 begin: the GRPO loss: ratio, clipped surrogate, k3 KL and their gradient
        int b = n / T, in_surrogate = entropy[n] >= threshold;
        float A = adv[b], lp = logp[n];
        float ratio = g->sequence_level ? expf(seq_logratio[b]) : old_logp ? expf(lp - old_logp[n]) : 1.0f;
        float clipped = fminf(fmaxf(ratio, 1.0f - g->eps_low), 1.0f + g->eps_high);
        float surrogate = 0.0f, dsurrogate = 0.0f; // d surrogate / d log-ratio
        if (ratio * A <= clipped * A) { surrogate = ratio * A; dsurrogate = ratio * A; }
        else { surrogate = clipped * A; if (A < 0) low_sum += 1.0; else high_sum += 1.0; }
        float kl = 0.0f, dkl = 0.0f;
        if (ref_logp) {
            float d = ref_logp[n] - lp;
            kl = expf(d) - d - 1.0f;
            dkl = 1.0f - expf(d); // d kl / d logp
        }
        loss += -w[n] * ((in_surrogate ? surrogate : 0.0f) - g->beta * kl);
        // d loss / d logp: a token's own surrogate, or (sequence level) its share of its response's
        float dlp = g->sequence_level ? -seq_weight[b] * dsurrogate
                    : in_surrogate ? -w[n] * dsurrogate : 0.0f;
        dlp += w[n] * g->beta * dkl;
        // d logp / d z_i = (onehot_i - p_i) / temperature
        for (int i = 0; i < V; i++) dz[i] = -dlp * dz[i] / g->temperature;
        dz[targets[n]] += dlp / g->temperature;
        kl_sum += kl; n_tok += 1.0;
        // exercise 14 end
