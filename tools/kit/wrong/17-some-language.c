// wrong: a response partly in the other language is kept
    // exercise 17 begin: the rejection-sampling keep rule
    return j->correct > 0.0f && j->format > 0.0f && j->language > 0.0f && j->len <= max_len && !j->repeats;
    // exercise 17 end
