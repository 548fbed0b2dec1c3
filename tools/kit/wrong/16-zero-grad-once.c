// wrong: the gradients are zeroed once per step, not per update: the second update adds the first's
    // exercise 16 begin: capstone: the GRPO policy update and an R1-Zero run
    model_zero_grad(m);
    for (int it = 0; it < g->num_iterations; it++) {
        log->loss = 0.0f;
        for (int c = 0, c0 = 0; c < n_chunks; c++, c0 += chunk) {  // the chunks' gradients add up
            int rows = imin(chunk, n - c0), Tc = chunk_T[c];
            size_t off = (size_t)c0 * T;
            model_forward(m, c_inputs + off, c_len + c0, rows, Tc, NULL, 0);
            if (it == 0) moe_diagnostics(m, c_w + off, log);
            float loss = grpo_loss(m->dlogits, logp + off, m->logits, c_targets + off, c_w + off, c_adv + c0,
                                   it == 0 ? NULL : old_logp + off, ref ? ref_logp + off : NULL, rows, Tc, V,
                                   g, &log->st);
            log->loss += loss;
            if (!isfinite(loss)) { status = STEP_LOSS_NOT_FINITE; break; }
            model_backward(m);
        }
        if (status != STEP_OK) break;
        if (it == 0) memcpy(old_logp, logp, nt * sizeof(float));
        float norm;  // the bias update weighs the expert loads of all chunks by the batch's n rows
        status = optimizer_step(m, &g->optim, step * g->num_iterations + it + 1, n, &norm);
        if (status != STEP_OK) break;
    }
    // exercise 16 end
