// a correct variant: one condition a line, each returning 0 when it fails
    // exercise 17 begin: the rejection-sampling keep rule
    if (j->correct <= 0.0f || j->format <= 0.0f) return 0;
    if (j->language < 1.0f) return 0;
    if (j->len > max_len || j->repeats) return 0;
    return 1;
    // exercise 17 end
