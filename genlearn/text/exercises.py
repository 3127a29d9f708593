"""Exercises for the text notebooks 07 and 08: each pairs a checker with a reference solution (``genlearn.exercises``).

Checkers draw fresh random sizes and inputs at every check, test properties before values, and hint
at the mistake without giving the expected result. References are written from scratch, as an
instructor's model solution: the instructor edition pastes their source into the notebooks.
"""

from __future__ import annotations

import dataclasses
import math
import string

import torch
import torch.nn.functional as F

from genlearn.device import pick_device
from genlearn.exercises import Exercise, WriteItYourself
from genlearn.exercises.inputs import as_tensor, integer, trials
from genlearn.text.bigram import BigramCounts
from genlearn.text.generation import filter_logits
from genlearn.text.gpt import GPT, GPTConfig
from genlearn.text.mlp import MLPConfig, MLPLanguageModel
from genlearn.text.training import MLP_PRESETS, MLPTrainer

# --- Shared by the checkers ---------------------------------------------------------------------------


def _run(function, *args):
    """``function(*args)``; an error in the student's code becomes a hint that names it."""
    try:
        return function(*args)
    except (NotImplementedError, AssertionError, WriteItYourself):
        raise
    except Exception as error:
        raise AssertionError(
            f"your code raised {type(error).__name__}: {error} (call it on a small input to see where)"
        ) from error


def _scalar(result, what: str) -> float:
    value = as_tensor(result, what)
    assert value.numel() == 1, f"return {what} as one number, not a tensor of shape {tuple(value.shape)}"
    return float(value)


def _differs(a: torch.Tensor, b: torch.Tensor, tolerance: float = 1e-5) -> bool:
    """More than rounding apart; the tolerance is relative to the largest entry of ``b``."""
    scale = max(1.0, float(b.detach().abs().max())) if b.numel() else 1.0
    return not torch.allclose(a.to(b.dtype), b, rtol=10 * tolerance, atol=tolerance * scale)


def _randomize(model: torch.nn.Module, generator: torch.Generator) -> torch.nn.Module:
    """Weights far from their small initial values, so that every mistake shows in the outputs."""
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            noise = torch.randn(parameter.shape, generator=generator)
            if "norm" in name:
                parameter.copy_(1 + 0.3 * noise)
            elif parameter.dim() == 2 and "embedding" not in name:
                parameter.copy_(noise / math.sqrt(parameter.size(1)))
            else:
                parameter.copy_(noise)
    return model.eval()


# --- Notebook 07: bigram counts and the MLP -----------------------------------------------------------


def _reference_bigram_probabilities(counts: torch.Tensor, smoothing: float) -> torch.Tensor:
    smoothed = counts.float() + smoothing
    return smoothed / smoothed.sum(dim=1, keepdim=True)  # row a: the next character b given a


def _check_bigram_probabilities(candidate) -> None:
    for generator in trials():
        vocab_size = integer(generator, 2, 30)
        counts = torch.randint(0, 40, (vocab_size, vocab_size), generator=generator)
        counts[counts < 15] = 0  # pairs never seen in training
        counts[integer(generator, 0, vocab_size - 1)] = 0  # a character never followed by anything
        if integer(generator, 0, 1):
            counts = counts.float()
        smoothing = 0.05 + 3 * float(torch.rand((), generator=generator))
        given = counts.clone()
        probs = as_tensor(_run(candidate, given, smoothing), "the table p(b | a)")
        assert torch.equal(given, counts), "leave the counts unchanged: build a new tensor instead of adding in place"
        assert probs.shape == counts.shape, (
            "return one probability per (previous a, next b) pair: a table shaped like counts"
        )
        assert probs.is_floating_point() and torch.isfinite(probs).all() and (probs >= 0).all(), (
            "probabilities must be finite, non-negative floats"
        )
        probs = probs.float()
        rows = probs.sum(dim=1)
        assert torch.allclose(rows, torch.ones_like(rows), atol=1e-5), (
            "each row (one previous character a) must sum to 1 over the next character b"
        )
        assert torch.allclose(probs, _reference_bigram_probabilities(counts, smoothing), atol=1e-6), (
            "p(b | a) is proportional to counts[a, b] + smoothing: add it to every cell, then normalise the row"
        )
        nearly_uniform = as_tensor(_run(candidate, counts, 1e7), "the table p(b | a)")
        assert torch.allclose(nearly_uniform, torch.full_like(nearly_uniform, 1 / vocab_size), atol=1e-4), (
            "as the smoothing grows, every row must tend to the uniform distribution"
        )
        seen = counts + 1
        assert torch.allclose(
            as_tensor(_run(candidate, 5 * seen, 0.0), "the table"), as_tensor(_run(candidate, seen, 0.0), "the table"),
        ), "without smoothing, p(b | a) depends only on the ratios of the counts in row a"


BIGRAM_PROBABILITIES = Exercise(
    title="Smoothed bigram probabilities",
    checker=_check_bigram_probabilities,
    reference=_reference_bigram_probabilities,
    forbidden=("genlearn.text.bigram.BigramCounts",),
)


def _reference_average_nll(probs: torch.Tensor, inputs: torch.Tensor, targets: torch.Tensor) -> float:
    keep = targets >= 0  # -1 marks padding, not a character
    return -probs[inputs[keep], targets[keep]].log().mean().item()


def _check_average_nll(candidate) -> None:
    for generator in trials():
        vocab_size, batch, length = integer(generator, 2, 30), integer(generator, 1, 6), integer(generator, 2, 12)
        probs = F.softmax(2 * torch.randn(vocab_size, vocab_size, generator=generator), dim=1)
        inputs = torch.randint(0, vocab_size, (batch, length), generator=generator)
        targets = torch.randint(0, vocab_size, (batch, length), generator=generator)
        padding = torch.rand(batch, length, generator=generator) < 0.3
        padding.view(-1)[integer(generator, 0, batch * length - 1)] = False  # at least one real target
        targets[padding] = -1

        def nll(probs, inputs, targets):
            return _scalar(_run(candidate, probs, inputs, targets), "the average NLL")

        value = nll(probs, inputs, targets)
        assert math.isfinite(value), "the NLL must be finite: skip the padded targets (-1)"
        assert value > 0, "an NLL is minus a log-probability, so it is positive: check the sign"
        doubled = nll(probs, torch.cat([inputs, inputs]), torch.cat([targets, targets]))
        assert abs(doubled - value) < 1e-5, "the same batch twice must give the same value: average, don't sum"
        uniform = torch.full_like(probs, 1 / vocab_size)
        assert abs(nll(uniform, inputs, targets) - math.log(vocab_size)) < 1e-4, (
            "with a uniform table every character costs ln(vocab_size) nats: average -ln p, with the natural logarithm"
        )
        padded = nll(probs, F.pad(inputs, (0, 3)), F.pad(targets, (0, 3), value=-1))
        assert abs(padded - value) < 1e-5, (
            "more padding changed the value: a target of -1 must count neither in the sum nor in the number of targets"
        )
        assert abs(value - _reference_average_nll(probs, inputs, targets)) < 1e-5, (
            "average -ln probs[input, target] over the real targets: the row is the input (previous character), "
            "the column the target"
        )


AVERAGE_NLL = Exercise(
    title="Average negative log-likelihood",
    checker=_check_average_nll,
    reference=_reference_average_nll,
    forbidden=(
        "genlearn.text.bigram.BigramCounts",
        "genlearn.text.evaluation.evaluate_nll",
        "torch.nn.functional.cross_entropy",
        "torch.nn.functional.nll_loss",
    ),
)


def _reference_name_log_probability(name: str, probs: torch.Tensor, stoi: dict) -> torch.Tensor:
    # The name sits between two boundary tokens: "." starts it, and emitting "." ends it.
    ids = torch.tensor([stoi["."]] + [stoi[character] for character in name] + [stoi["."]])
    return probs[ids[:-1], ids[1:]].log().sum()  # chain rule: log p(name) = sum of log p(next | previous)


def _random_vocab(generator: torch.Generator, num_letters: int) -> list[str]:
    """Letters in a random order, with the boundary "." among them (not first: its id need not be 0)."""
    order = torch.randperm(26, generator=generator)[:num_letters].tolist()
    vocab = [string.ascii_lowercase[i] for i in order]
    vocab.insert(integer(generator, 1, num_letters), ".")
    return vocab


def _library_log_probability(name: str, probs: torch.Tensor, stoi: dict, start: bool = True, end: bool = True) -> float:
    """log p(name) from the library's count model and loss; without ``start``/``end``, the usual mistakes."""
    ids = [stoi[character] for character in name]
    inputs = ([stoi["."]] if start else []) + ids[: len(ids) if end else -1]
    targets = ids[0 if start else 1 :] + ([stoi["."]] if end else [])
    if not targets:
        return 0.0
    _, loss = BigramCounts(probs, smoothing=0.0)(torch.tensor([inputs]), torch.tensor([targets]))
    return -float(loss) * len(targets)


def _all_names(letters: list[str], max_length: int) -> list[str]:
    names = [""]
    for _ in range(max_length):
        names += [name + letter for name in names if len(name) == len(names[-1]) for letter in letters]
    return names


def _check_name_log_probability(candidate) -> None:
    for generator in trials():
        vocab = _random_vocab(generator, integer(generator, 2, 12))
        stoi = {character: i for i, character in enumerate(vocab)}
        letters = [character for character in vocab if character != "."]
        probs = F.softmax(1.5 * torch.randn(len(vocab), len(vocab), generator=generator), dim=1)
        names = ["".join(letters[i] for i in torch.randint(0, len(letters), (integer(generator, 1, 8),),
                                                              generator=generator)) for _ in range(3)]
        names += [letters[0] * 2 + letters[-1], ""]  # a repeated letter; the empty name
        for name in names:
            value = _scalar(_run(candidate, name, probs.clone(), dict(stoi)), "log p(name)")
            expected = _library_log_probability(name, probs, stoi)
            if abs(value - expected) < 1e-4:
                continue
            assert value <= 0, "return the log-probability (natural log), which is at most 0, not the probability"
            if name:
                assert abs(value - _library_log_probability(name, probs, stoi, end=False)) > 1e-4, (
                    "include the last factor p(. | last letter): stopping after the name is part of its probability"
                )
                assert abs(value - _library_log_probability(name, probs, stoi, start=False)) > 1e-4, (
                    "include the first factor p(first letter | .): the name starts after the boundary token"
                )
            assert abs(value - _library_log_probability(name, probs, {**stoi, ".": 0})) > 1e-4, (
                "look the boundary token's id up in stoi: it is not always 0"
            )
            raise AssertionError(
                f"log p({name!r}) is wrong: sum log p(next | previous) over the name with '.' before and after it"
                + (" (the empty name is just '.' then '.')" if not name else "")
            )
    # A distribution over names: those of length <= n hold all the probability but that of the longer ones.
    generator = next(trials(1))
    vocab = _random_vocab(generator, 2)
    stoi = {character: i for i, character in enumerate(vocab)}
    letters = [character for character in vocab if character != "."]
    probs = F.softmax(torch.randn(3, 3, generator=generator), dim=1)
    boundary, letter_ids = stoi["."], [stoi[letter] for letter in letters]
    max_length = 6
    start, steps = probs[boundary, letter_ids], probs[letter_ids][:, letter_ids]
    longer = float(start @ torch.linalg.matrix_power(steps, max_length) @ torch.ones(2))
    total = sum(math.exp(_scalar(_run(candidate, name, probs, dict(stoi)), "log p(name)"))
                for name in _all_names(letters, max_length))
    assert abs(total - (1 - longer)) < 1e-4, (
        "summed over every possible name, your probabilities do not add up the way a distribution must: "
        "each name needs its start factor and its end factor"
    )


NAME_LOG_PROBABILITY = Exercise(
    title="log p(name) by the chain rule",
    checker=_check_name_log_probability,
    reference=_reference_name_log_probability,
    kind="build",
    forbidden=(
        "genlearn.data.names.encode_names",
        "genlearn.text.bigram.BigramCounts",
        "genlearn.text.evaluation.evaluate_nll",
    ),
)


def _reference_mlp_logits(idx: torch.Tensor, weights: dict, context_length: int) -> torch.Tensor:
    embedding = weights["token_embedding.weight"]
    blank = embedding.size(0) - 1  # the extra last row stands for the positions before the start
    length = idx.size(1)
    padded = F.pad(idx, (context_length - 1, 0), value=blank)
    # For every position t: the tokens t-k+1 .. t, oldest first, shape (batch, time, k).
    contexts = torch.stack([padded[:, i : i + length] for i in range(context_length)], dim=-1)
    embedded = embedding[contexts].flatten(2)  # (batch, time, k * embedding_dim): the k embeddings concatenated
    hidden = torch.tanh(embedded @ weights["hidden.weight"].T + weights["hidden.bias"])
    return hidden @ weights["output.weight"].T + weights["output.bias"]


def _check_mlp_logits(candidate) -> None:
    for generator in trials():
        config = MLPConfig(
            vocab_size=integer(generator, 2, 20), context_length=integer(generator, 1, 6),
            embedding_dim=integer(generator, 1, 8), hidden_dim=integer(generator, 2, 24),
        )
        model = _randomize(MLPLanguageModel(config), generator)
        batch, length = integer(generator, 1, 4), integer(generator, 1, 12)
        idx = torch.randint(0, config.vocab_size, (batch, length), generator=generator)
        weights = {name: tensor.detach().clone().requires_grad_() for name, tensor in model.state_dict().items()}
        logits = as_tensor(_run(candidate, idx.clone(), weights, config.context_length), "the logits")
        assert logits.shape == (batch, length, config.vocab_size), (
            "return logits of shape (batch, time, vocab_size): one row of next-token scores per position"
        )
        expected, _ = model(idx)
        position = integer(generator, 0, length - 1)
        changed = idx.clone()
        changed[:, position] = (changed[:, position] + 1) % config.vocab_size
        moved = as_tensor(_run(candidate, changed, weights, config.context_length), "the logits")
        assert not _differs(moved[:, :position], logits[:, :position]), (
            "a change at position j moved the logits before j: position t may only see tokens up to t"
        )
        unseen = position + config.context_length  # the first position whose window no longer holds j
        assert not _differs(moved[:, unseen:], logits[:, unseen:]), (
            "a change at position j moved logits k or more positions later: the MLP sees only the last k tokens"
        )
        start = config.context_length - 1  # from here on, the window holds no blank
        if not _differs(logits[:, start:], expected[:, start:]):
            assert not _differs(logits, expected), (
                "the first k - 1 positions are wrong: positions before the start are the blank token, "
                "the embedding table's last row (id vocab_size)"
            )
        assert not _differs(logits, expected), (
            "the logits differ from MLPLanguageModel's: concatenate the k embeddings oldest first, "
            "[C(x_t-k+1); ...; C(x_t)], then tanh of the hidden layer, then the output layer"
        )
        assert logits.requires_grad, "keep the computation differentiable: no .detach(), .item() or .numpy()"


MLP_LOGITS = Exercise(
    title="The MLP language model's forward pass",
    checker=_check_mlp_logits,
    reference=_reference_mlp_logits,
    kind="build",
    forbidden=("genlearn.text.mlp.MLPLanguageModel.forward", "genlearn.text.mlp.MLPLanguageModel.contexts"),
)

_val_nll_of_run: dict[str, float] = {}  # a run is deterministic: retrying the check does not retrain it


def _mlp_val_nll(context_length: int) -> float:
    device = pick_device()
    config = dataclasses.replace(MLP_PRESETS.for_device(device), context_length=context_length)
    key = f"{device} {config}"
    if key not in _val_nll_of_run:
        trainer = MLPTrainer(config, device)
        trainer.fit()
        _val_nll_of_run[key] = trainer.evaluate_split("val")["nll"]
    return _val_nll_of_run[key]


def _reference_context_length() -> int:
    return 8  # 3 letters rarely say how far into a name we are; past about 8 the gain fades (names are short)


def _check_context_length(candidate) -> None:
    context_length = _run(candidate)
    assert isinstance(context_length, int) and not isinstance(context_length, bool) and context_length >= 1, (
        "return a context length: a whole number >= 1"
    )
    assert context_length != 3, "3 is the context to beat: choose another one"
    yours, baseline = _mlp_val_nll(context_length), _mlp_val_nll(3)
    assert yours < baseline, (
        f"with context_length={context_length} the val NLL is {yours:.4f}, not below {baseline:.4f} with 3: "
        "try another length"
    )
    print(f"context_length={context_length}: val NLL {yours:.4f} against {baseline:.4f} with 3")


MLP_CONTEXT_LENGTH = Exercise(
    title="A context length that beats 3",
    checker=_check_context_length,
    reference=_reference_context_length,
    kind="open",
)

# --- Notebook 08: attention, sampling and the KV cache ------------------------------------------------


def _reference_causal_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    length = q.size(-2)
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.size(-1))  # (..., query t, key s)
    future = torch.ones(length, length, dtype=torch.bool, device=q.device).triu(diagonal=1)  # s > t
    return F.softmax(scores.masked_fill(future, float("-inf")), dim=-1) @ v


def _check_causal_attention(candidate) -> None:
    for generator in trials():
        batch, heads, length, head_dim = (integer(generator, 1, 3), integer(generator, 1, 4), integer(generator, 1, 10),
                                          integer(generator, 2, 16))
        q, k, v = (2 * torch.randn(batch, heads, length, head_dim, generator=generator) for _ in range(3))
        out = as_tensor(_run(candidate, q.clone(), k.clone(), v.clone()), "the attention output")
        assert out.shape == v.shape, "return one output vector per query: shape (batch, heads, T, d), like v"
        assert torch.isfinite(out).all(), (
            "NaN or inf in the output: mask with -inf before the softmax, and let every query see itself"
        )
        assert not _differs(out[..., 0, :], v[..., 0, :]), (
            "the first position can only attend to itself, so its output must be its own value"
        )
        position = integer(generator, 0, length - 1)
        later_k, later_v = k.clone(), v.clone()
        later_k[..., position:, :] = torch.randn(later_k[..., position:, :].shape, generator=generator)
        later_v[..., position:, :] += 5
        moved = as_tensor(_run(candidate, q.clone(), later_k, later_v), "the attention output")
        assert not _differs(moved[..., :position, :], out[..., :position, :]), (
            "an output changed when only later keys and values changed: mask out the keys after the query (s > t)"
        )
        expected = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        unscaled = F.scaled_dot_product_attention(q, k, v, is_causal=True, scale=1.0)
        assert not (_differs(expected, unscaled) and not _differs(out, unscaled)), (
            "scale the scores by 1/sqrt(d), d = the head dimension q.size(-1), before the softmax"
        )
        assert not _differs(out, expected), (
            "not causal softmax(q k^T / sqrt(d)) v: check the softmax axis (over the keys, the last one)"
        )


CAUSAL_ATTENTION = Exercise(
    title="Causal scaled dot-product attention",
    checker=_check_causal_attention,
    reference=_reference_causal_attention,
    forbidden=("torch.nn.functional.scaled_dot_product_attention", "genlearn.text.gpt.attention"),
)


def _random_logits(generator: torch.Generator) -> torch.Tensor:
    """(batch, vocab) logits; half the time small integers, so that ties are common."""
    shape = (integer(generator, 1, 5), integer(generator, 2, 30))
    if integer(generator, 0, 1):
        return torch.randint(-2, 3, shape, generator=generator).float()
    return 2 * torch.randn(shape, generator=generator)


def _check_filtered(logits: torch.Tensor, given: torch.Tensor, out) -> torch.Tensor:
    """The kept-token mask of a filter's output, after the checks that every filter must pass."""
    out = as_tensor(out, "the filtered logits")
    assert torch.equal(given, logits), "leave the logits you were given unchanged: masked_fill, not masked_fill_"
    assert out.shape == logits.shape, "return logits of the same shape (batch, vocab)"
    kept = out != float("-inf")
    assert torch.equal(out[kept], logits[kept]), (
        "change only the removed logits, and set them to -inf: softmax then gives them probability exactly 0"
    )
    return kept


def _reference_top_k(logits: torch.Tensor, k: int) -> torch.Tensor:
    kth_largest = torch.topk(logits, k, dim=-1).values[..., -1:]  # per row
    return logits.masked_fill(logits < kth_largest, float("-inf"))  # ties with the k-th stay


def _logits_tied_at_k(generator: torch.Generator) -> tuple[torch.Tensor, int]:
    """Logits whose k-th and (k+1)-th largest are equal in every row."""
    logits = 2 * torch.randn(integer(generator, 1, 4), integer(generator, 3, 30), generator=generator)
    k = integer(generator, 1, logits.size(-1) - 1)
    values, order = logits.sort(dim=-1, descending=True)
    return logits.scatter(-1, order[:, k : k + 1], values[:, k - 1 : k]), k


def _check_top_k(candidate) -> None:
    for trial, generator in enumerate(trials(6)):
        if trial == 0:
            logits, k = _logits_tied_at_k(generator)
        else:
            logits = _random_logits(generator)
            k = integer(generator, 1, logits.size(-1))
        given = logits.clone()
        kept = _check_filtered(logits, given, _run(candidate, given, k))
        assert (kept.sum(dim=-1) >= k).all(), "keep at least k tokens in every row"
        kth_largest = torch.topk(logits, k, dim=-1).values[..., -1:].expand_as(logits)
        expected = logits >= kth_largest
        if not torch.equal(kept, expected):
            missing = expected & ~kept
            assert (kept & ~expected).any() or not (logits[missing] == kth_largest[missing]).all(), (
                "a logit tied with the k-th largest is exactly as likely: keep it too"
            )
            raise AssertionError("keep the k LARGEST logits of each row (per row, along the last axis)")


TOP_K_FILTER = Exercise(
    title="Top-k filtering",
    checker=_check_top_k,
    reference=_reference_top_k,
    forbidden=("genlearn.text.generation.filter_logits",),
)


def _reference_top_p(logits: torch.Tensor, p: float) -> torch.Tensor:
    probs = F.softmax(logits, dim=-1)
    sorted_probs = torch.sort(probs, dim=-1, descending=True).values
    mass_before = sorted_probs.cumsum(dim=-1) - sorted_probs
    # The token that crosses p is the last one whose predecessors hold less than p; it stays, with its ties.
    crossing = (mass_before < p).sum(dim=-1, keepdim=True) - 1
    return logits.masked_fill(probs < sorted_probs.gather(-1, crossing), float("-inf"))


def _clear_p(logits: torch.Tensor, generator: torch.Generator) -> float:
    """A p in (0, 1) that is not within rounding of any row's cumulative probability."""
    sorted_probs = torch.sort(F.softmax(logits, dim=-1), dim=-1, descending=True).values
    cumulative = sorted_probs.cumsum(dim=-1)
    while True:
        p = 0.02 + 0.96 * float(torch.rand((), generator=generator))
        if ((cumulative - p).abs() > 1e-3).all():
            return p


def _logits_tied_where_p_is_crossed(generator: torch.Generator) -> tuple[torch.Tensor, float]:
    """One row of logits, and a p crossed by a token that is tied with the next one in probability order."""
    logits = torch.randint(-1, 2, (1, integer(generator, 4, 20)), generator=generator).float()  # 3 values: ties
    sorted_probs = torch.sort(F.softmax(logits, dim=-1), dim=-1, descending=True).values[0]
    crossing = int((sorted_probs[:-1] == sorted_probs[1:]).nonzero()[0])
    low = float(sorted_probs[:crossing].sum())
    return logits, low + float(sorted_probs[crossing]) * (0.25 + 0.5 * float(torch.rand((), generator=generator)))


def _check_top_p(candidate) -> None:
    for trial, generator in enumerate(trials(8)):
        if trial == 0:
            logits, p = _logits_tied_where_p_is_crossed(generator)
        else:
            logits = _random_logits(generator)
            p = _clear_p(logits, generator)
        given = logits.clone()
        kept = _check_filtered(logits, given, _run(candidate, given, p))
        probs = F.softmax(logits, dim=-1)
        library = torch.isfinite(filter_logits(logits, top_p=p))
        # The library keeps the token that crosses p but only those of its ties that its sort put first:
        # every token as likely as the least likely one it keeps belongs in the nucleus.
        threshold = probs.masked_fill(~library, float("inf")).min(dim=-1, keepdim=True).values
        expected = probs >= threshold
        if torch.equal(kept, expected):
            continue
        assert ((probs * kept).sum(dim=-1) >= p - 1e-6).all(), (
            "the kept tokens hold less than p of the probability: keep the token that crosses p as well"
        )
        assert not ((kept & ~expected).any() and (kept | expected).equal(kept)), (
            "keep only the smallest set of most likely tokens whose probability reaches p"
        )
        assert not (expected & ~kept & (probs == threshold)).any(), (
            "tokens tied with the one that crosses p are exactly as likely: keep all of them"
        )
        raise AssertionError("keep the MOST likely tokens of each row, in order of probability, until they reach p")


TOP_P_FILTER = Exercise(
    title="Top-p (nucleus) filtering",
    checker=_check_top_p,
    reference=_reference_top_p,
    kind="build",
    forbidden=("genlearn.text.generation.filter_logits",),
)


def _reference_gpt_logits(idx: torch.Tensor, weights: dict, num_heads: int) -> torch.Tensor:
    token_embedding = weights["token_embedding.weight"]
    batch, length = idx.shape
    x = token_embedding[idx] + weights["position_embedding.weight"][:length]
    channels = x.size(-1)
    head_dim = channels // num_heads
    future = torch.ones(length, length, dtype=torch.bool, device=idx.device).triu(diagonal=1)
    num_layers = len({name.split(".")[1] for name in weights if name.startswith("blocks.")})
    for layer in range(num_layers):
        block = f"blocks.{layer}."
        # Pre-norm residual: x + attention(LayerNorm(x)), split into heads of size C / num_heads.
        h = F.layer_norm(x, (channels,), weights[block + "norm_1.weight"])
        q, k, v = (h @ weights[block + "attention.qkv.weight"].T).split(channels, dim=-1)
        q, k, v = (t.view(batch, length, num_heads, head_dim).transpose(1, 2) for t in (q, k, v))
        scores = (q @ k.transpose(-2, -1) / math.sqrt(head_dim)).masked_fill(future, float("-inf"))
        heads = (F.softmax(scores, dim=-1) @ v).transpose(1, 2).reshape(batch, length, channels)
        x = x + heads @ weights[block + "attention.proj.weight"].T
        # Then x + MLP(LayerNorm(x)).
        h = F.layer_norm(x, (channels,), weights[block + "norm_2.weight"])
        x = x + F.gelu(h @ weights[block + "mlp.fc.weight"].T) @ weights[block + "mlp.proj.weight"].T
    # The output head is tied: it reuses the token embedding, so logits score x against every token's vector.
    return F.layer_norm(x, (channels,), weights["norm_final.weight"]) @ token_embedding.T


def _random_gpt(generator: torch.Generator, min_layers: int = 1, min_heads: int = 1) -> GPT:
    num_heads = integer(generator, min_heads, 3)
    config = GPTConfig(
        vocab_size=integer(generator, 3, 20), context_length=integer(generator, 4, 12),
        num_layers=integer(generator, min_layers, 3), num_heads=num_heads,
        embedding_dim=num_heads * integer(generator, 2, 6), attention="matmul",
    )
    return _randomize(GPT(config), generator)


def _check_gpt_logits(candidate) -> None:
    for generator in trials(3):
        model = _random_gpt(generator, min_heads=2)  # with one head, a scale of 1/sqrt(C) would look right
        config = model.config
        batch, length = integer(generator, 1, 3), integer(generator, 3, config.context_length)
        idx = torch.randint(0, config.vocab_size, (batch, length), generator=generator)
        weights = {name: tensor.detach().clone() for name, tensor in model.state_dict().items()}
        del weights["lm_head.weight"]  # tied: the head is the token embedding
        weights["token_embedding.weight"].requires_grad_()

        def logits_of(idx):
            logits = as_tensor(_run(candidate, idx, weights, config.num_heads), "the logits")
            assert logits.shape == (batch, length, config.vocab_size), (
                "return logits of shape (batch, time, vocab_size)"
            )
            return logits

        logits = logits_of(idx.clone())
        assert logits.requires_grad, "keep the computation differentiable: no .detach(), .item() or .numpy()"
        position = integer(generator, 0, length - 1)
        changed = idx.clone()
        changed[:, position] = (changed[:, position] + 1) % config.vocab_size
        assert not _differs(logits_of(changed)[:, :position], logits[:, :position]), (
            "a change at position j moved the logits before j: mask the future keys in every block's attention"
        )
        expected, _ = model(idx)
        swapped = idx.clone()
        swapped[:, [0, 1]] = idx[:, [1, 0]]
        positions_matter = _differs(model(swapped)[0][:, -1], expected[:, -1])
        assert _differs(logits_of(swapped)[:, -1], logits[:, -1]) or not positions_matter, (
            "swapping two earlier tokens left the last position's logits unchanged: add the position embeddings"
        )
        assert not _differs(logits[:, 0], expected[:, 0]), (
            "position 0 is wrong already, where attention only passes on its own value: check the embeddings, "
            "the LayerNorms (weight only, no bias), the residual additions, the MLP (GELU) and the head, tied to the "
            "token embedding"
        )
        assert not _differs(logits, expected), (
            "position 0 is right but later ones are not: check the attention: heads of size C / num_heads, scores "
            "scaled by 1/sqrt(C / num_heads), softmax over the keys, heads put back together in order"
        )
        direction = torch.randn(logits.shape, generator=generator)
        (gradient,) = torch.autograd.grad((logits * direction).sum(), weights["token_embedding.weight"])
        model.zero_grad()
        (expected * direction).sum().backward()
        assert not _differs(gradient, model.token_embedding.weight.grad, tolerance=1e-4), (
            "the gradient of the token embedding is wrong: use the tensor itself for the head (tied, no .detach())"
        )


GPT_LOGITS = Exercise(
    title="A GPT forward pass with a tied output head",
    checker=_check_gpt_logits,
    reference=_reference_gpt_logits,
    kind="build",
    forbidden=(
        "genlearn.text.gpt.GPT.forward",
        "genlearn.text.gpt.Block.forward",
        "genlearn.text.gpt.CausalSelfAttention.forward",
        "genlearn.text.gpt.MLP.forward",
        "genlearn.text.gpt.attention",
        "torch.nn.functional.scaled_dot_product_attention",
    ),
)


class _ReferenceKVCache:
    """Each layer's keys and values so far, grown by concatenation. GPT.forward reads ``length``, calls
    ``update`` once per layer, then ``advance`` once."""

    def __init__(self, num_layers):
        self.keys = [None] * num_layers  # per layer: (batch, heads, tokens so far, head_dim)
        self.values = [None] * num_layers
        self.length = 0  # tokens stored so far

    def update(self, layer, k, v):
        if self.keys[layer] is not None:  # after the first call: the old keys first, then the new ones
            k = torch.cat([self.keys[layer], k], dim=2)  # dim 2 is time
            v = torch.cat([self.values[layer], v], dim=2)
        self.keys[layer], self.values[layer] = k, v
        return k, v

    def advance(self, num_tokens):
        self.length += num_tokens


def _watch_updates(cache, num_layers: int) -> None:
    """Check every ``update`` the GPT makes against the keys and values it was given so far."""
    update = cache.update
    given: list[list[tuple[torch.Tensor, torch.Tensor]]] = [[] for _ in range(num_layers)]

    def checked_update(layer, k, v):
        length = cache.length
        result = update(layer, k, v)
        assert cache.length == length, (
            "update must not change cache.length: GPT.forward advances it once, after every layer has updated"
        )
        assert isinstance(result, tuple) and len(result) == 2, "update must return (keys, values)"
        given[layer].append((k, v))
        all_k = torch.cat([pair[0] for pair in given[layer]], dim=2)
        all_v = torch.cat([pair[1] for pair in given[layer]], dim=2)
        keys, values = (as_tensor(t, "keys and values") for t in result)
        if keys.shape != all_k.shape or values.shape != all_v.shape:
            assert not (length and keys.size(-2) == k.size(2)), (
                "return every key and value this layer has stored so far, not only the new ones"
            )
            raise AssertionError(
                "return keys and values of shape (batch, heads, cache.length + new tokens, head_dim): "
                "the stored ones, then the new ones, along the time axis (dim 2)"
            )
        assert torch.equal(keys, all_k) and torch.equal(values, all_v), (
            "return this layer's own keys and values, oldest first, the new ones last"
        )
        return keys, values

    cache.update = checked_update


def _check_kv_cache(candidate) -> None:
    for generator in trials(3):
        model = _random_gpt(generator, min_layers=2)
        config = model.config
        batch, total = integer(generator, 1, 3), integer(generator, 3, config.context_length)
        idx = torch.randint(0, config.vocab_size, (batch, total), generator=generator)
        chunks = [integer(generator, 1, total - 2)]  # the prompt, then chunks of 1 or 2 tokens
        while sum(chunks) < total:
            chunks.append(min(integer(generator, 1, 2), total - sum(chunks)))
        cache = _run(candidate, config.num_layers)
        assert all(hasattr(cache, name) for name in ("length", "update", "advance")), (
            "keep the class's length, update and advance: GPT.forward uses all three"
        )
        _watch_updates(cache, config.num_layers)
        with torch.no_grad():
            uncached, _ = model(idx)
            start = 0
            for size in chunks:
                logits, _ = _run(model, idx[:, start : start + size], None, cache)
                assert not _differs(logits, uncached[:, start : start + size]), (
                    "the cached logits differ from the uncached ones: each layer must see every earlier key and value"
                )
                start += size


KV_CACHE_UPDATE = Exercise(
    title="The KV cache's update",
    checker=_check_kv_cache,
    reference=_ReferenceKVCache,
    kind="build",
    forbidden=("genlearn.text.gpt.KVCache.update",),
)


# --- Notebook 08: tokenization ---------------------------------------------------------------------------


def _reference_byte_pair_merges(ids: list[int], num_merges: int, first_new_id: int) -> list[tuple[int, int]]:
    ids, merges = list(ids), []
    for new_id in range(first_new_id, first_new_id + num_merges):
        counts: dict[tuple[int, int], int] = {}
        for pair in zip(ids, ids[1:]):
            counts[pair] = counts.get(pair, 0) + 1
        if not counts or max(counts.values()) < 2:
            break
        top = max(counts.values())
        pair = min(candidate for candidate, count in counts.items() if count == top)
        merges.append(pair)
        merged, index = [], 0
        while index < len(ids):
            if index + 1 < len(ids) and (ids[index], ids[index + 1]) == pair:
                merged.append(new_id)
                index += 2
            else:
                merged.append(ids[index])
                index += 1
        ids = merged
    return merges


def _repetitive_ids(generator: torch.Generator) -> list[int]:
    """Ids over a small alphabet, built from repeated motifs and noise, so that merges chain into longer tokens."""
    alphabet = integer(generator, 2, 6)
    motifs = [torch.randint(0, alphabet, (integer(generator, 2, 4),), generator=generator).tolist() for _ in range(3)]
    ids: list[int] = []
    while len(ids) < integer(generator, 20, 80):
        choice = integer(generator, 0, 3)
        ids += motifs[choice] if choice < 3 else [integer(generator, 0, alphabet - 1)]
    return ids


def _merges_of(result, what: str) -> list[tuple[int, int]]:
    assert isinstance(result, (list, tuple)), f"return {what} as a list of pairs (got a {type(result).__name__})"
    pairs = []
    for pair in result:
        assert isinstance(pair, (list, tuple)) and len(pair) == 2, f"each merge is a pair of ids (got {pair!r})"
        pairs.append((int(pair[0]), int(pair[1])))
    return pairs


def _check_byte_pair_merges(candidate) -> None:
    fixed = [
        ([5, 5, 5, 5, 5], 2, 300),  # overlapping pairs: the first merge leaves 300 300 5
        ([1, 2, 3, 4], 3, 256),  # no pair occurs twice: nothing to merge
        ([2, 1, 1, 2, 2, 1, 1, 2], 1, 256),  # a three-way tie: (1, 1), (1, 2) and (2, 1) each occur twice
        ([5, 5, 5, 7, 5, 5, 5, 7], 2, 300),  # left to right gives 300 5 7 300 5 7, so (5, 7) next
        ([1, 2, 1, 2, 1, 2, 3, 3, 3, 3], 3, 256),  # the third merge uses a new id: counts change after each merge
    ]
    random_cases = []
    for generator in trials(6):
        random_cases.append((_repetitive_ids(generator), integer(generator, 1, 10), integer(generator, 256, 400)))
    for ids, num_merges, first_new_id in fixed + random_cases:
        given = list(ids)
        merges = _merges_of(_run(candidate, given, num_merges, first_new_id), "the merges")
        assert given == ids, "leave the ids unchanged: merge into a new list"
        expected = _reference_byte_pair_merges(ids, num_merges, first_new_id)
        if not expected:
            assert not merges, "stop when no adjacent pair occurs twice: such a merge would save nothing"
            continue
        assert len(merges) <= num_merges, f"learn at most num_merges = {num_merges} merges"
        assert merges[:1] == expected[:1], (
            "the first merge is the adjacent pair that occurs most often (count every position, overlaps included: "
            "zip(ids, ids[1:])); on a tie, take the smallest pair, comparing the first id, then the second"
        )
        assert merges == expected, (
            "after a merge, replace each occurrence of the pair, left to right and without overlaps, by the new id "
            "(first_new_id, then the next), count the pairs of the merged list afresh, and stop early only when "
            "no pair occurs twice"
        )


BYTE_PAIR_MERGES = Exercise(
    title="Byte-pair merges",
    checker=_check_byte_pair_merges,
    reference=_reference_byte_pair_merges,
    kind="build",
    forbidden=("genlearn.text.bpe.learn_merges", "genlearn.text.bpe.merge_pair", "genlearn.text.bpe.BytePairTokenizer"),
)
