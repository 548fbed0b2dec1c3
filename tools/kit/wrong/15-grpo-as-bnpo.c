// wrong: grpo weighs every token of the batch alike (1 / sum |o_i|)
    // exercise 15 begin: the loss normalisations of grpo, bnpo, dr_grpo and dapo
    float total = 0.0f;
    for (int i = 0; i < n * T; i++) total += mask[i];
    for (int i = 0; i < n; i++) {
        float len = 0.0f, wt;
        for (int t = 0; t < T; t++) len += mask[i * T + t];
        switch (loss_type) {
        case LOSS_GRPO: wt = 1.0f / total; break;
        case LOSS_BNPO: wt = 1.0f / total; break;
        case LOSS_DR_GRPO: wt = 1.0f / ((float)n * max_len); break;
        case LOSS_DAPO: wt = 1.0f / total; break; // the whole batch's tokens: one batch per step, so = bnpo
        default: die("unknown loss type %d", loss_type);
        }
        for (int t = 0; t < T; t++) w[i * T + t] = mask[i * T + t] > 0.0f ? wt : 0.0f;
    }
    // exercise 15 end
