// a correct variant: the frequencies and angles in float (powf, cosf, sinf) instead of double
    // exercise 2 begin: RoPE, the rotation of interleaved pairs
    #pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) {
        int pos = pos0 + n % T;
        for (int i = 0; i < dr / 2; i++) {
            float angle = pos * powf((float)ROPE_THETA, -2.0f * i / dr);
            float c = cosf(angle), s = sign * sinf(angle);
            for (int h = 0; h < H; h++) {
                float *p = x + ((size_t)n * H + h) * hs + off + 2 * i;
                float a = p[0], b = p[1];
                p[0] = a * c - b * s;
                p[1] = a * s + b * c;
            }
        }
    }
    // exercise 2 end
