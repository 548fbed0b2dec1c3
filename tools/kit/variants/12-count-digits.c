// a correct variant: the digits compared as counts of each value
    // exercise 12 begin: the countdown reward: a try re-evaluated
    int given[3] = { t->a, t->b, t->c };
    for (int i = 0; i < 3; i++) {
        int in_prompt = 0, in_try = 0;
        for (int k = 0; k < CD_DIGITS; k++) in_prompt += p->digit[k] == given[i];
        for (int j = 0; j < 3; j++) in_try += given[j] == given[i];
        if (in_try != in_prompt) return 0;
    }
    return apply_op(t->a, t->op1, t->b) == t->r && t->r2 == t->r && apply_op(t->r2, t->op2, t->c) == t->v;
    // exercise 12 end
    // exercise 12 begin: the countdown reward: a try re-evaluated
    const char *a = NULL;
    for (const char *s = strstr(response, "<answer>"); s; s = strstr(s + 1, "<answer>")) a = s;
    if (!a) return 0.0f;
    a += strlen("<answer>");
    WrittenTry t;
    int n = parse_try(a, &t);
    if (!n || strncmp(a + n, "</answer>", 9) != 0) return 0.0f;
    return try_sound(p, &t) && t.v == p->target ? 1.0f : 0.0f;
    // exercise 12 end
