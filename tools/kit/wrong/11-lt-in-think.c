// wrong: format lets a < into the think span
    // exercise 11 begin: the three rule rewards
    const char *a = NULL;
    for (const char *p = strstr(response, "<answer>"); p; p = strstr(p + 1, "<answer>")) a = p;
    if (!a) return 0.0f;
    a += strlen("<answer>");
    const char *end = strstr(a, "</answer>");
    if (!end || end == a || end - a > 18) return 0.0f;
    long v = 0;
    int neg = *a == '-';
    for (const char *p = a + neg; p < end; p++) {
        if (*p < '0' || *p > '9') return 0.0f;
        v = v * 10 + (*p - '0');
    }
    if (neg && end == a + 1) return 0.0f;
    return (neg ? -v : v) == truth ? 1.0f : 0.0f;
    // exercise 11 end
    // exercise 11 begin: the three rule rewards
    const char *p = response;
    if (strncmp(p, "<think>", 7) != 0) return 0.0f;
    p += 7;
    const char *close = strstr(p, "</think>");
    if (!close) return 0.0f;
    p = close + 8;
    if (strncmp(p, "<answer>", 8) != 0) return 0.0f;
    p += 8;
    close = strstr(p, "</answer>");
    if (!close || close == p || memchr(p, '<', close - p)) return 0.0f;
    return strcmp(close + 9, "<eos>") == 0 ? 1.0f : 0.0f;
    // exercise 11 end
    // exercise 11 begin: the three rule rewards
    const char *p = strstr(response, "<think>"), *end;
    if (!p) return 0.0f;
    p += 7;
    end = strstr(p, "</think>");
    if (!end) end = p + strlen(p);
    int words = 0, same = 0;
    while (p < end) {
        if (*p == '<') { // a special token is not a word
            while (p < end && *p != '>') p++;
        } else if (*p >= 'a' && *p <= 'z') {
            const char *w = p;
            while (p < end && *p >= 'a' && *p <= 'z') p++;
            words++;
            same += word_language(w, (int)(p - w)) == lang;
        } else {
            p++;
        }
    }
    return words ? (float)same / words : 1.0f;
    // exercise 11 end
