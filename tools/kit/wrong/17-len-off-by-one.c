// wrong: a response of exactly max_len tokens is refused
    // exercise 17 begin: the rejection-sampling keep rule
    return j->correct > 0.0f && j->format > 0.0f && j->language >= 1.0f && j->len < max_len && !j->repeats;
    // exercise 17 end
