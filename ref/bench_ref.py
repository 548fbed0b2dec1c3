"""
ref/bench_ref.py: the PyTorch side of `make bench`: the model of ref/r1_ref.py in float32, timed.

(a) training: forward + backward + clipping + AdamW (+ the router-bias update) on a B x T batch of
    random tokens, as one r1.c training step;
(b) rollout: P prompts of 15 random tokens, each repeated G times as GRPO samples a group, then
    exactly M new tokens per row at temperature 1 (no early stop), with a per-layer KV cache of
    the assembled MLA keys and values (as r1.c caches them); the prompt is read in one forward.

On its own it prints "name value" lines: torch_version, threads, and the medians of --steps after a
warm-up: train_tokens_per_s (B*T tokens per step), rollout_tokens_per_s (generated tokens only).
With --serve (make bench) it times one step or rollout per command read from stdin, so that
tools/bench.c can alternate them with r1's.

Usage: python3 ref/bench_ref.py --preset teacher --threads 2 --batch 64 --seq 128 \
           --prompts 8 --generations 16 --new-tokens 64 --steps 5
"""
import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import r1_ref  # noqa: E402 (exits with status 77 if torch is missing)
import torch  # noqa: E402

PROMPT_LEN = 15


def make_train_step(c, P, bias, B, T):
    """a function that runs one training step on a fixed random batch and returns its seconds"""
    g = torch.Generator().manual_seed(1)
    tokens = torch.randint(c.vocab, (B, T), generator=g)
    targets = torch.randint(c.vocab, (B, T), generator=g)
    w = torch.full((B, T), 1.0 / (B * T))
    params = [p.requires_grad_() for p in P.values()]
    opt = r1_ref.make_optimizer(P, weight_decay=0.1)
    for group in opt.param_groups:
        group["lr"] = 1e-4

    def step():
        t0 = time.perf_counter()
        for p in params:
            p.grad = None
        logits, aux, routing = r1_ref.forward(P, c, tokens, bias)
        loss = r1_ref.crossentropy(logits, targets, w) + aux
        loss.backward()
        r1_ref.clip_grad(params, 1.0)
        opt.step()
        r1_ref.bias_update(bias, routing, 1e-3, B * c.context * c.top_k)
        return time.perf_counter() - t0
    return step


@torch.inference_mode()
def rollout(c, P, bias, prompts, G, M, g):
    """prompts[Pn,PROMPT_LEN] -> [Pn*G, M] sampled tokens (temperature 1, exactly M per row)"""
    rows = prompts.repeat_interleave(G, dim=0)
    R = rows.shape[0]
    cache = r1_ref.KVCache(c, R, PROMPT_LEN + M, torch.float32)
    logits, _, _ = r1_ref.forward(P, c, rows, bias, cache=cache, pos0=0)  # the prompt, in one forward
    out = torch.empty(R, M, dtype=torch.long)
    for i in range(M):
        probs = torch.softmax(logits[:, -1], dim=-1)
        out[:, i] = torch.multinomial(probs, 1, generator=g)[:, 0]
        if i + 1 < M:
            logits, _, _ = r1_ref.forward(P, c, out[:, i:i + 1], bias, cache=cache, pos0=PROMPT_LEN + i)
    return out


def make_rollout(c, P, bias, Pn, G, M):
    """a function that runs one rollout of Pn*G rows and returns its seconds"""
    g = torch.Generator().manual_seed(2)
    prompts = torch.randint(c.vocab, (Pn, PROMPT_LEN), generator=g)

    def run():
        t0 = time.perf_counter()
        rollout(c, P, bias, prompts, G, M, g)
        return time.perf_counter() - t0
    return run


def serve(timed):
    """make bench's protocol: one command per line in ("train" or "rollout"), one line out with its
    seconds ("train_seconds 1.234"); "quit" or the end of input stops"""
    print("ready", flush=True)
    for line in sys.stdin:
        what = line.strip()
        if what == "quit":
            break
        if what not in timed:
            sys.exit(f"bench_ref: unknown command {what!r}")
        print(f"{what}_seconds", f"{timed[what]():.6f}", flush=True)


def main():
    ap = argparse.ArgumentParser(description="PyTorch reference throughput for make bench (name value lines)")
    ap.add_argument("--preset", default="teacher", choices=sorted(r1_ref.PRESETS))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=64, help="training rows")
    ap.add_argument("--seq", type=int, default=128, help="training tokens per row")
    ap.add_argument("--prompts", type=int, default=8)
    ap.add_argument("--generations", type=int, default=16, help="rows per prompt")
    ap.add_argument("--new-tokens", type=int, default=64, help="tokens generated per row")
    ap.add_argument("--steps", type=int, default=3, help="timed training steps and rollouts")
    ap.add_argument("--serve", action="store_true", help="time one step per command on stdin (make bench)")
    args = ap.parse_args()
    c = r1_ref.Config(r1_ref.PRESETS[args.preset])
    if min(args.threads, args.batch, args.seq, args.prompts, args.generations, args.new_tokens, args.steps) < 1:
        sys.exit("bench_ref: every count must be at least 1")
    if args.seq > c.context or PROMPT_LEN + args.new_tokens > c.context:
        sys.exit(f"bench_ref: --seq and {PROMPT_LEN} + --new-tokens must fit the context {c.context}")
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    P, bias = r1_ref.init_params(c, seed=1, dtype=torch.float32)
    print("torch_version", torch.__version__)
    print("threads", torch.get_num_threads())
    sys.stdout.flush()
    timed = {"train": make_train_step(c, P, bias, args.batch, args.seq),
             "rollout": make_rollout(c, P, bias, args.prompts, args.generations, args.new_tokens)}
    if args.serve:
        serve(timed)
        return
    # on its own: the median of --steps after a warm-up
    counts = {"train": args.batch * args.seq, "rollout": args.prompts * args.generations * args.new_tokens}
    for what, count in counts.items():
        t = statistics.median([timed[what]() for _ in range(1 + args.steps)][1:])
        print(f"{what}_tokens_per_s", f"{count / t:.1f}", flush=True)


if __name__ == "__main__":
    main()
