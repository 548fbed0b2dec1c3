// a correct variant: the mean load divided once after the sum, the step written with a conditional
    // exercise 8 begin: auxiliary-loss-free balancing, the bias update
    const Config *c = &m->cfg;
    float full = (float)rows * c->context * c->top_k;
    for (int l = 0; l < c->n_layer; l++) {
        if (!is_moe_layer(c, l)) continue;
        float mean = 0.0f, routed = 0.0f;
        for (int e = 0; e < c->n_experts; e++) {
            mean += m->expert_load[l][e];
            routed += m->expert_load[l][e];
        }
        mean /= c->n_experts;
        float weight = full > 0.0f ? fminf(routed / full, 1.0f) : 1.0f;
        for (int e = 0; e < c->n_experts; e++) {
            float err = mean - m->expert_load[l][e];
            if (err != 0.0f) m->router_bias[l][e] += err > 0 ? gamma * weight : -gamma * weight;
        }
    }
    // exercise 8 end
