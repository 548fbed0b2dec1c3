// wrong, and not caught yet: eps inside the square root, sqrt(vhat + eps) (Algorithm 2 adds it outside); at eps
// 1e-8 the step differs only where sqrt(vhat) is near 1e-4 or below, and the checks' gradients are larger
    // exercise 10 begin: the AdamW step
    float bc1 = 1.0f - powf(beta1, (float)t), bc2 = 1.0f - powf(beta2, (float)t);
    #pragma omp parallel for schedule(static)
    for (size_t i = 0; i < m->num_params; i++) {
        float g = m->grads_mem[i];
        m->m_mem[i] = beta1 * m->m_mem[i] + (1.0f - beta1) * g;
        m->v_mem[i] = beta2 * m->v_mem[i] + (1.0f - beta2) * g * g;
        float mhat = m->m_mem[i] / bc1, vhat = m->v_mem[i] / bc2;
        m->params_mem[i] -= lr * (mhat / sqrtf(vhat + eps) +
                                  weight_decay * m->decay_mask[i] * m->params_mem[i]);
    }
    // exercise 10 end
