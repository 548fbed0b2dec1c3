// wrong: the sign is reversed: an overloaded expert is pushed up
    // exercise 8 begin: auxiliary-loss-free balancing, the bias update
    const Config *c = &m->cfg;
    float full = (float)rows * c->context * c->top_k;
    for (int l = 0; l < c->n_layer; l++) {
        if (!is_moe_layer(c, l)) continue;
        float mean = 0.0f, routed = 0.0f;
        for (int e = 0; e < c->n_experts; e++) {
            mean += m->expert_load[l][e] / c->n_experts;
            routed += m->expert_load[l][e];
        }
        float weight = full > 0.0f ? fminf(routed / full, 1.0f) : 1.0f;
        for (int e = 0; e < c->n_experts; e++) {
            float err = m->expert_load[l][e] - mean;
            m->router_bias[l][e] += gamma * weight * (float)((err > 0) - (err < 0));
        }
    }
    // exercise 8 end
