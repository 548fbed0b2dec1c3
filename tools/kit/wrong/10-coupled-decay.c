// wrong: weight decay added to the gradient (L2, Adam), not decoupled
    // exercise 10 begin: the AdamW step
    float bc1 = 1.0f - powf(beta1, (float)t), bc2 = 1.0f - powf(beta2, (float)t);
    #pragma omp parallel for schedule(static)
    for (size_t i = 0; i < m->num_params; i++) {
        float g = m->grads_mem[i] + weight_decay * m->decay_mask[i] * m->params_mem[i];
        m->m_mem[i] = beta1 * m->m_mem[i] + (1.0f - beta1) * g;
        m->v_mem[i] = beta2 * m->v_mem[i] + (1.0f - beta2) * g * g;
        float mhat = m->m_mem[i] / bc1, vhat = m->v_mem[i] / bc2;
        m->params_mem[i] -= lr * (mhat / (sqrtf(vhat) + eps) );
    }
    // exercise 10 end
