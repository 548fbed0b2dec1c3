"""
ref/r1_ref.py: r1.c's model written again in PyTorch, for testing only.

Like llm.c's train_gpt2.py for test_gpt2.c: it reads an r1 checkpoint and a batch, runs one forward
and backward pass with autograd (float64), then ten training steps, and writes what it computed to
a debug-state file that ref/test_ref.c compares with r1.c. With --grpo and --distill it also computes
the GRPO loss and the distillation loss of the same checkpoint on a case of their own (the loss, its
gradient with respect to the logits and to every parameter), and with --decode the logits of a batch
by a full forward and by decoding token by token with a KV cache. ref/bench_ref.py times the same
model in float32 for `make bench`.

Nothing here is copied from r1.c's backward pass: the gradients come from autograd. The forward
pass follows DeepSeek-V3 and r1.c's conventions (tensor layout, interleaved RoPE
pairs, RMSNorm eps, ties in the top-k choice).

Usage (test_ref runs it): python3 ref/r1_ref.py CHECKPOINT BATCH OUT [--steps 10 --lr ... ]
                            [--grpo CASE OUT] [--distill CASE OUT] [--decode CASE OUT]
"""
import argparse
import functools
import math
import struct
import sys

try:
    import numpy as np
    import torch
    import torch.nn.functional as F
except ImportError as e:  # exit status 77: test_ref tries another python3, or reports the check skipped
    print(f"r1_ref: {e}", file=sys.stderr)
    sys.exit(77)

# ----------------------------------------------------------------------------
# configs: r1.c's Config (the field order of its struct) and PRESETS

CONFIG_FIELDS = ["vocab", "context", "d_model", "n_layer", "n_head", "d_nope", "d_rope", "d_v", "kv_rank",
                 "q_rank", "n_dense", "d_ff_dense", "n_experts", "top_k", "d_ff_expert"]
VOCAB_SIZE = 47  # 5 special tokens + the 42 characters of r1.c's ALPHABET
PRESETS = {
    "teacher": [VOCAB_SIZE, 160, 128, 4, 4, 32, 16, 32, 64, 96, 1, 384, 8, 2, 128],
    "student": [VOCAB_SIZE, 160, 128, 3, 4, 32, 16, 32, 64, 96, 1, 384, 4, 2, 128],
    "tiny":    [VOCAB_SIZE, 16, 16, 2, 2, 4, 4, 4, 8, 8, 1, 24, 4, 2, 8],
}
MAX_LAYERS, MAX_EXPERTS = 16, 64  # sizes of the router-bias block of a checkpoint
RMS_EPS = 1e-5
ROPE_THETA = 1e4


class Config:
    def __init__(self, values):
        for name, v in zip(CONFIG_FIELDS, values):
            setattr(self, name, int(v))


def is_moe_layer(c, l):
    return l >= c.n_dense and c.n_experts > 0


def param_shapes(c):
    """the tensors in r1.c's params_layout order: [(name, shape)]"""
    C, NH, dqk = c.d_model, c.n_head, c.d_nope + c.d_rope
    shapes = [("wte", (c.vocab, C))]
    for l in range(c.n_layer):
        F_ = c.d_ff_expert if is_moe_layer(c, l) else c.d_ff_dense
        shapes += [(f"l{l}.attn_norm", (C,)), (f"l{l}.wqa", (c.q_rank, C)), (f"l{l}.q_norm", (c.q_rank,)),
                   (f"l{l}.wqb", (NH * dqk, c.q_rank)), (f"l{l}.wkva", (c.kv_rank + c.d_rope, C)),
                   (f"l{l}.kv_norm", (c.kv_rank,)), (f"l{l}.wkvb", (NH * (c.d_nope + c.d_v), c.kv_rank)),
                   (f"l{l}.wo", (C, NH * c.d_v)), (f"l{l}.ffn_norm", (C,)),
                   (f"l{l}.w1", (F_, C)), (f"l{l}.w3", (F_, C)), (f"l{l}.w2", (C, F_))]
        if is_moe_layer(c, l):
            E = c.n_experts
            shapes += [(f"l{l}.router", (E, C)), (f"l{l}.ew1", (E, F_, C)), (f"l{l}.ew3", (E, F_, C)),
                       (f"l{l}.ew2", (E, C, F_))]
    shapes += [("norm_f", (C,)), ("head", (c.vocab, C))]
    return shapes


def is_norm_weight(name):  # no weight decay on these (r1.c's decay_mask)
    return name.endswith("norm") or name == "norm_f"


# ----------------------------------------------------------------------------
# checkpoints: r1.c's checkpoint_save format
# header (128 bytes): uint32 magic, version; int32 config[15]; char preset[16]; int32 step, has_optimizer,
# data_pos; uint64 num_params, rng_state; char world[16]. Then float32 router_bias[16][64], float64 tokens seen, float32
# load_avg[16][64], float32 params[num_params], optionally the AdamW moments, then a uint64 checksum (not
# verified here).

CKPT_MAGIC, CKPT_VERSION = 0x4B433152, 4
HEADER = struct.Struct("<II15i16siiiQQ16s")


def load_checkpoint(path, dtype):
    """returns (config, {name: tensor}, router_bias[n_layer, n_experts])"""
    data = open(path, "rb").read()
    fields = HEADER.unpack_from(data, 0)
    magic, version, cfg, num_params = fields[0], fields[1], fields[2:17], fields[21]
    if magic != CKPT_MAGIC or version != CKPT_VERSION:
        sys.exit(f"r1_ref: {path}: not an r1 checkpoint of version {CKPT_VERSION}")
    c = Config(cfg)
    shapes = param_shapes(c)
    if sum(math.prod(s) for _, s in shapes) != num_params:
        sys.exit(f"r1_ref: {path}: parameter count does not match its config")
    off = HEADER.size
    bias = np.frombuffer(data, np.float32, MAX_LAYERS * MAX_EXPERTS, off).reshape(MAX_LAYERS, MAX_EXPERTS)
    off += bias.nbytes + 8 + bias.nbytes  # router_bias, tokens seen, load_avg
    flat = np.frombuffer(data, np.float32, num_params, off)
    params, i = {}, 0
    for name, shape in shapes:
        n = math.prod(shape)
        params[name] = torch.tensor(flat[i:i + n].reshape(shape).copy(), dtype=dtype)
        i += n
    router_bias = torch.tensor(bias[:c.n_layer, :max(c.n_experts, 1)].copy(), dtype=dtype)
    return c, params, router_bias


def init_params(c, seed, dtype):
    """a fresh model as r1.c initialises one (normal(0, 0.02), output projections / sqrt(2L), norms 1);
    the same distribution, not the same numbers"""
    g = torch.Generator().manual_seed(seed)
    params = {}
    for name, shape in param_shapes(c):
        if is_norm_weight(name):
            params[name] = torch.ones(shape, dtype=dtype)
        else:
            std = 0.02 / math.sqrt(2 * c.n_layer) if name.split(".")[-1] in ("wo", "w2", "ew2") else 0.02
            params[name] = torch.randn(shape, generator=g, dtype=dtype) * std
    return params, torch.zeros(c.n_layer, max(c.n_experts, 1), dtype=dtype)


# ----------------------------------------------------------------------------
# the model (DeepSeek-V3 section 2.1)

def rmsnorm(x, w):  # y = x / sqrt(mean(x^2) + eps) * w
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + RMS_EPS) * w


@functools.lru_cache(maxsize=None)
def rope_table(pos0, T, dr, dtype):
    """cos and sin [1,T,1,dr/2] of the angles pos * theta^(-2i/dr), pos = pos0 + t, computed in float64
    as r1.c does"""
    pos = torch.arange(pos0, pos0 + T, dtype=torch.float64)
    freq = ROPE_THETA ** (-2.0 * torch.arange(dr // 2, dtype=torch.float64) / dr)
    angle = pos[:, None] * freq[None, :]
    return torch.cos(angle).to(dtype)[None, :, None, :], torch.sin(angle).to(dtype)[None, :, None, :]


def rope(x, pos0):
    """x[B,T,H,dr] rotated in interleaved pairs (x[2i], x[2i+1]) by the angles of rope_table"""
    cos, sin = rope_table(pos0, x.shape[1], x.shape[3], x.dtype)
    a, b = x[..., 0::2], x[..., 1::2]
    return torch.stack([a * cos - b * sin, a * sin + b * cos], dim=-1).flatten(-2)


class KVCache:
    """per layer the assembled keys [B,NH,Tmax,dqk] and values [B,NH,Tmax,dv], as r1.c caches them"""
    def __init__(self, c, B, T, dtype):
        NH, dqk = c.n_head, c.d_nope + c.d_rope
        self.k = [torch.zeros(B, NH, T, dqk, dtype=dtype) for _ in range(c.n_layer)]
        self.v = [torch.zeros(B, NH, T, c.d_v, dtype=dtype) for _ in range(c.n_layer)]


def mla(x, P, l, c, pos0=0, cache=None):
    """Multi-head Latent Attention, training form. x[B,T,C] at positions pos0.. -> [B,T,C]"""
    B, T, _ = x.shape
    NH, dn, dr, dv, R = c.n_head, c.d_nope, c.d_rope, c.d_v, c.kv_rank
    h = rmsnorm(x, P[f"l{l}.attn_norm"])
    c_q = rmsnorm(h @ P[f"l{l}.wqa"].T, P[f"l{l}.q_norm"])                     # c_Q = W_DQ h, RMS-normed
    q = (c_q @ P[f"l{l}.wqb"].T).view(B, T, NH, dn + dr)                       # per head [W_UQ c_Q ; W_QR c_Q]
    q = torch.cat([q[..., :dn], rope(q[..., dn:], pos0)], dim=-1)              # RoPE on the query's RoPE part
    kva = h @ P[f"l{l}.wkva"].T                                                # [B,T,R+dr]
    latent = rmsnorm(kva[..., :R], P[f"l{l}.kv_norm"])                         # c, RMS-normed
    k_rope = rope(kva[..., R:].reshape(B, T, 1, dr), pos0)                     # one RoPE key for all heads
    kvb = (latent @ P[f"l{l}.wkvb"].T).view(B, T, NH, dn + dv)
    k = torch.cat([kvb[..., :dn], k_rope.expand(B, T, NH, dr)], dim=-1)        # [B,T,NH,dqk]
    v = kvb[..., dn:]                                                          # [B,T,NH,dv]
    q, k, v = q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)          # [B,NH,T,*]
    if cache is not None:
        cache.k[l][:, :, pos0:pos0 + T] = k
        cache.v[l][:, :, pos0:pos0 + T] = v
        k, v = cache.k[l][:, :, :pos0 + T], cache.v[l][:, :, :pos0 + T]
    att = (q @ k.transpose(-1, -2)) / math.sqrt(dn + dr)                       # [B,NH,T,pos0+T]
    qpos = torch.arange(pos0, pos0 + T)[:, None]
    kpos = torch.arange(0, pos0 + T)[None, :]
    att = att.masked_fill(kpos > qpos, float("-inf")).softmax(-1)              # causal
    y = (att @ v).transpose(1, 2).reshape(B, T, NH * dv)
    return y @ P[f"l{l}.wo"].T


def swiglu(x, w1, w3, w2):  # (silu(x W1^T) * (x W3^T)) W2^T
    return (F.silu(x @ w1.T) * (x @ w3.T)) @ w2.T


def choose_topk(score, K):
    """indices [N,K] of the K largest scores, largest first; equal scores go to the lower index
    (torch.argmax returns the first maximum)"""
    score = score.clone()
    top = []
    for _ in range(K):
        i = score.argmax(-1)
        top.append(i)
        score.scatter_(-1, i[:, None], float("-inf"))
    return torch.stack(top, dim=-1)


def moe(h, P, l, c, bias, alpha, B, T, real, training=True):
    """DeepSeekMoE: shared expert + top-k of E routed experts. h[N,C] -> (out[N,C], balance loss,
    top[N,K], routing scores s + b [N,E], load[E] (tokens per expert; training only)). real[N]: 1 for a
    token, 0 for padding, which is routed but counted in neither the load nor the balance loss"""
    E, K = c.n_experts, c.top_k
    out = swiglu(h, P[f"l{l}.w1"], P[f"l{l}.w3"], P[f"l{l}.w2"])              # the shared expert
    s = torch.sigmoid(h @ P[f"l{l}.router"].T)                                 # affinities [N,E]
    score = s.detach() + bias                                                  # the bias only chooses
    top = choose_topk(score, K)
    s_top = s.gather(1, top)
    gate = s_top / s_top.sum(-1, keepdim=True)                                 # renormalised unbiased s
    for e in range(E):
        rows, slots = (top == e).nonzero(as_tuple=True)
        if len(rows) == 0:
            continue
        y = swiglu(h[rows], P[f"l{l}.ew1"][e], P[f"l{l}.ew3"][e], P[f"l{l}.ew2"][e])
        out = out.index_add(0, rows, gate[rows, slots, None] * y)
    aux, load = h.new_zeros(()), None
    if training:
        onehot = F.one_hot(top, E).sum(1).to(h.dtype) * real[:, None]          # [N,E] 1 where chosen
        load = onehot.sum(0)
        if alpha > 0:  # sequence-wise balance loss alpha * sum_i f_i P_i, averaged over sequences
            T_b = real.view(B, T).sum(1, keepdim=True).clamp(min=1)            # [B,1] tokens per sequence
            f = onehot.view(B, T, E).sum(1) * E / (K * T_b)                    # [B,E], a constant
            p = (s / s.sum(-1, keepdim=True) * real[:, None]).view(B, T, E).sum(1) / T_b  # [B,E]
            aux = alpha * (f * p).sum(-1).mean()
    return out, aux, top, score, load


def forward(P, c, tokens, bias, alpha=0.0, pos0=0, cache=None, lengths=None):
    """tokens[B,T] -> logits[B,T,V], balance loss, per MoE layer (top, score, load); with a cache
    (generation) the cache is filled at positions pos0.. and there is no balance loss or load.
    lengths[B]: the tokens of each row, the positions after them padding (None: no padding)"""
    B, T = tokens.shape
    real = torch.ones(B, T) if lengths is None else (torch.arange(T)[None, :] < lengths[:, None])
    real = real.reshape(B * T).to(P["wte"].dtype)
    x = P["wte"][tokens]
    aux, routing = x.new_zeros(()), {}
    for l in range(c.n_layer):
        x = x + mla(x, P, l, c, pos0, cache)
        h = rmsnorm(x, P[f"l{l}.ffn_norm"])
        if is_moe_layer(c, l):
            y, a, top, score, load = moe(h.reshape(B * T, -1), P, l, c, bias[l], alpha, B, T, real,
                                         cache is None)
            x = x + y.view(B, T, -1)
            aux = aux + a
            routing[l] = (top, score, load)
        else:
            x = x + swiglu(h, P[f"l{l}.w1"], P[f"l{l}.w3"], P[f"l{l}.w2"])
    logits = rmsnorm(x, P["norm_f"]) @ P["head"].T
    return logits, aux, routing


def crossentropy(logits, targets, w):  # sum_n w[n] * -log softmax(logits[n])[targets[n]]
    nll = torch.logsumexp(logits, -1) - logits.gather(-1, targets[..., None])[..., 0]
    return (w * nll).sum()


def grpo_loss(logits, targets, w, adv, old_logp, ref_logp, beta, eps_low, eps_high, temperature):
    """DeepSeekMath eq. 3 with the k3 KL of eq. 4, as TRL writes it: -sum_t w_t (min(ratio A,
    clip(ratio, 1 - eps_low, 1 + eps_high) A) - beta (exp(ref - logp) - (ref - logp) - 1)) with
    logp = log softmax(logits / temperature)[target], ratio = exp(logp - old_logp), A per row.
    Returns (loss, logp, ratio)."""
    logp = torch.log_softmax(logits / temperature, -1).gather(-1, targets[..., None])[..., 0]
    ratio = torch.exp(logp - old_logp)
    A = adv[:, None]
    surrogate = torch.min(ratio * A, torch.clamp(ratio, 1 - eps_low, 1 + eps_high) * A)
    d = ref_logp - logp
    kl = torch.exp(d) - d - 1
    return -(w * (surrogate - beta * kl)).sum(), logp, ratio


def distill_loss(student, teacher, targets, w, T, alpha):
    """logit distillation (Hinton et al.): sum_t w_t (alpha T^2 KL(p_teacher || p_student) at temperature
    T + (1 - alpha) cross-entropy of the student at temperature 1)"""
    log_ps, log_pt = torch.log_softmax(student / T, -1), torch.log_softmax(teacher / T, -1)
    kl = (log_pt.exp() * (log_pt - log_ps)).sum(-1)
    ce = -torch.log_softmax(student, -1).gather(-1, targets[..., None])[..., 0]
    return (w * (alpha * T * T * kl + (1 - alpha) * ce)).sum()


# ----------------------------------------------------------------------------
# training: AdamW (torch.optim.AdamW, decoupled decay on matrices only), global-norm clipping,
# warmup + cosine, and the aux-loss-free bias update after each step, in r1.c's train_lm order

def lr_schedule(step, total, warmup, lr_max, lr_min):
    if step < warmup:
        return lr_max * (step + 1) / warmup
    if step >= total:
        return lr_min
    progress = (step - warmup) / max(1, total - warmup)
    return lr_min + 0.5 * (lr_max - lr_min) * (1.0 + math.cos(math.pi * progress))


def make_optimizer(P, weight_decay, foreach=None):
    decay = [p for n, p in P.items() if not is_norm_weight(n)]
    no_decay = [p for n, p in P.items() if is_norm_weight(n)]
    return torch.optim.AdamW([{"params": decay, "weight_decay": weight_decay},
                              {"params": no_decay, "weight_decay": 0.0}],
                             lr=0.0, betas=(0.9, 0.95), eps=1e-8, foreach=foreach)


def clip_grad(params, max_norm):
    """scales the gradients so that their global norm is at most max_norm; returns the norm before"""
    norm = torch.sqrt(sum((p.grad ** 2).sum() for p in params))
    if max_norm > 0 and norm > max_norm:
        for p in params:
            p.grad.mul_(max_norm / norm)
    return norm.item()


def bias_update(bias, routing, gamma, full):  # b_i += gamma * weight * sign(mean load - load_i)
    for l, (_, _, load) in routing.items():   # weight: tokens routed over a full batch (B x context x top_k)
        weight = min(load.sum().item() / full, 1.0)
        bias[l] += gamma * weight * torch.sign(load.mean() - load)


# ----------------------------------------------------------------------------
# the debug state for ref/test_ref.c (little-endian):
# int32 magic "R1RS", n_logits, num_params, n_steps, n_topk;  then float64: logits, ce loss,
# balance loss, the smallest routing-score gap of all steps, the gradient (params_layout order),
# n_steps losses (ce + balance), n_steps gradient norms (before clipping);  then int32 top-k of the first forward (MoE layers in order, [N,K] each);
# then int32 n_presets and per preset char name[16], int32 config[15] (checked against r1.c's PRESETS)

STATE_MAGIC = 0x53523152


def run_check(args):
    torch.set_default_dtype(torch.float64)
    c, P, bias = load_checkpoint(args.checkpoint, torch.float64)
    batch = open(args.batch, "rb").read()
    B, T = struct.unpack_from("<ii", batch, 0)
    n = B * T
    tokens = torch.tensor(np.frombuffer(batch, np.int32, n, 8).reshape(B, T).copy(), dtype=torch.long)
    targets = torch.tensor(np.frombuffer(batch, np.int32, n, 8 + 4 * n).reshape(B, T).copy(), dtype=torch.long)
    w = torch.tensor(np.frombuffer(batch, np.float32, n, 8 + 8 * n).reshape(B, T).copy(), dtype=torch.float64)
    lengths = torch.tensor(np.frombuffer(batch, np.int32, B, 8 + 12 * n).copy(), dtype=torch.long)
    names = [name for name, _ in param_shapes(c)]
    params = [P[name].requires_grad_() for name in names]
    opt = make_optimizer(P, args.weight_decay)
    losses, norms, margin = [], [], float("inf")
    for step in range(args.steps):
        for p in params:
            p.grad = None
        logits, aux, routing = forward(P, c, tokens, bias, args.alpha, lengths=lengths)
        ce = crossentropy(logits, targets, w)
        (ce + aux).backward()
        for _, score, _ in routing.values():  # the gap between the k-th and (k+1)-th routing score
            ranked = score.sort(-1, descending=True).values
            margin = min(margin, (ranked[:, c.top_k - 1] - ranked[:, c.top_k]).min().item())
        if step == 0:
            first = (logits.detach().flatten(), ce.item(), aux.item(),
                     torch.cat([p.grad.flatten() for p in params]),
                     torch.cat([routing[l][0].flatten() for l in sorted(routing)]) if routing else torch.zeros(0))
        losses.append((ce + aux).item())
        norms.append(clip_grad(params, args.clip))
        for group in opt.param_groups:
            group["lr"] = lr_schedule(step, args.steps, args.warmup, args.lr, args.lr_min)
        with torch.no_grad():
            opt.step()
            bias_update(bias, routing, args.gamma, B * c.context * c.top_k)
    logits, ce, aux, grads, top = first
    with open(args.out, "wb") as f:
        f.write(struct.pack("<5i", STATE_MAGIC, logits.numel(), grads.numel(), args.steps, top.numel()))
        f.write(logits.numpy().astype("<f8").tobytes())
        f.write(struct.pack("<3d", ce, aux, margin))
        f.write(grads.numpy().astype("<f8").tobytes())
        f.write(np.array(losses, "<f8").tobytes())
        f.write(np.array(norms, "<f8").tobytes())
        f.write(top.numpy().astype("<i4").tobytes())
        f.write(struct.pack("<i", len(PRESETS)))
        for name, values in PRESETS.items():
            f.write(struct.pack("<16s15i", name.encode(), *values))


# ----------------------------------------------------------------------------
# the loss cases (--grpo, --distill) and the decoding case (--decode), each from a fresh copy of the
# checkpoint, no balance loss (the trainers that use these losses do not add it). Case files, little-endian:
#   int32 B, T, V, inputs[B*T], targets[B*T]; float32 w[B*T]; then
#   GRPO: float32 adv[B], old_logp[B*T], ref_logp[B*T], beta, eps_low, eps_high, temperature
#   distillation: float32 teacher logits[B*T*V], T, alpha
# Output (float64): loss, dlogits[B*T*V], the parameter gradient (params_layout order), logp[B*T] and
# ratio[B*T] (GRPO; zeros for distillation), the smallest routing-score gap of the forward.
# Decoding case: int32 B, T, tokens[B*T]; output (float64): the logits [B,T,V] of the full forward, then
# of decoding one token at a time with the KV cache, then the smallest routing-score gap.

def routing_margin(routing, K):
    margin = float("inf")
    for _, score, _ in routing.values():
        ranked = score.sort(-1, descending=True).values
        margin = min(margin, (ranked[:, K - 1] - ranked[:, K]).min().item())
    return margin


def run_loss_case(checkpoint, kind, case, out):
    c, P, bias = load_checkpoint(checkpoint, torch.float64)
    data = open(case, "rb").read()
    B, T, V = struct.unpack_from("<3i", data, 0)
    n, off = B * T, 12

    def take(dtype, count, shape):
        nonlocal off
        a = np.frombuffer(data, dtype, count, off).reshape(shape).copy()
        off += a.nbytes
        return a
    tokens = torch.tensor(take(np.int32, n, (B, T)), dtype=torch.long)
    targets = torch.tensor(take(np.int32, n, (B, T)), dtype=torch.long)
    w = torch.tensor(take(np.float32, n, (B, T)), dtype=torch.float64)
    names = [name for name, _ in param_shapes(c)]
    params = [P[name].requires_grad_() for name in names]
    logits, _, routing = forward(P, c, tokens, bias)
    logits.retain_grad()
    logp = ratio = torch.zeros(B, T, dtype=torch.float64)
    if kind == "grpo":
        adv = torch.tensor(take(np.float32, B, (B,)), dtype=torch.float64)
        old = torch.tensor(take(np.float32, n, (B, T)), dtype=torch.float64)
        ref = torch.tensor(take(np.float32, n, (B, T)), dtype=torch.float64)
        beta, eps_low, eps_high, temperature = (float(x) for x in take(np.float32, 4, (4,)))
        loss, logp, ratio = grpo_loss(logits, targets, w, adv, old, ref, beta, eps_low, eps_high, temperature)
    else:
        teacher = torch.tensor(take(np.float32, n * V, (B, T, V)), dtype=torch.float64)
        Td, alpha = (float(x) for x in take(np.float32, 2, (2,)))
        loss = distill_loss(logits, teacher, targets, w, Td, alpha)
    loss.backward()
    with open(out, "wb") as f:
        f.write(struct.pack("<d", loss.item()))
        f.write(logits.grad.numpy().astype("<f8").tobytes())
        f.write(torch.cat([p.grad.flatten() for p in params]).numpy().astype("<f8").tobytes())
        f.write(logp.detach().numpy().astype("<f8").tobytes())
        f.write(ratio.detach().numpy().astype("<f8").tobytes())
        f.write(struct.pack("<d", routing_margin(routing, c.top_k)))


@torch.no_grad()
def run_decode_case(checkpoint, case, out):
    c, P, bias = load_checkpoint(checkpoint, torch.float64)
    data = open(case, "rb").read()
    B, T = struct.unpack_from("<2i", data, 0)
    tokens = torch.tensor(np.frombuffer(data, np.int32, B * T, 8).reshape(B, T).copy(), dtype=torch.long)
    full, _, routing = forward(P, c, tokens, bias)
    cache = KVCache(c, B, T, torch.float64)
    steps = [forward(P, c, tokens[:, t:t + 1], bias, pos0=t, cache=cache)[0] for t in range(T)]
    with open(out, "wb") as f:
        f.write(full.numpy().astype("<f8").tobytes())
        f.write(torch.cat(steps, dim=1).numpy().astype("<f8").tobytes())
        f.write(struct.pack("<d", routing_margin(routing, c.top_k)))


def main():
    ap = argparse.ArgumentParser(description="r1.c's model in PyTorch: writes the debug state test_ref compares")
    ap.add_argument("checkpoint", help="an r1 checkpoint")
    ap.add_argument("batch", help="int32 B, T, inputs[B*T], targets[B*T]; float32 weights[B*T]; "
                                  "int32 lengths[B]")
    ap.add_argument("out", help="the debug state to write")
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--lr", type=float, default=1e-2)
    ap.add_argument("--lr-min", type=float, default=1e-3)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--weight-decay", type=float, default=0.1)
    ap.add_argument("--clip", type=float, default=1.0)
    ap.add_argument("--alpha", type=float, default=0.0, help="sequence-wise balance loss weight")
    ap.add_argument("--gamma", type=float, default=0.0, help="router bias step")
    ap.add_argument("--grpo", nargs=2, metavar=("CASE", "OUT"), help="the GRPO loss case")
    ap.add_argument("--distill", nargs=2, metavar=("CASE", "OUT"), help="the distillation loss case")
    ap.add_argument("--decode", nargs=2, metavar=("CASE", "OUT"), help="the KV-cache decoding case")
    args = ap.parse_args()
    run_check(args)
    torch.set_default_dtype(torch.float64)
    if args.grpo:
        run_loss_case(args.checkpoint, "grpo", *args.grpo)
    if args.distill:
        run_loss_case(args.checkpoint, "distill", *args.distill)
    if args.decode:
        run_decode_case(args.checkpoint, *args.decode)


if __name__ == "__main__":
    main()
