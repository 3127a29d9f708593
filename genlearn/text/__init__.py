"""Autoregressive text models, from bigram counts to a GPT, behind one interface.

Every model: ``forward(idx, targets=None) -> (logits, loss)`` and ``generate(idx, max_new_tokens, ...)``,
so one training loop (``training``), one sampler (``generation``) and one evaluation (``evaluation``) serve all.
"""

from genlearn.text.bigram import BigramCounts, BigramLanguageModel, count_bigrams
from genlearn.text.evaluation import evaluate_nll, sequential_windows
from genlearn.text.generation import filter_logits, generate
from genlearn.text.gpt import GPT, CausalSelfAttention, GPTConfig, KVCache, attention
from genlearn.text.mlp import MLPConfig, MLPLanguageModel
from genlearn.text.training import (
    PRESETS,
    TRAINERS,
    BigramTrainer,
    BigramTrainingConfig,
    GPTTrainer,
    GPTTrainingConfig,
    MLPTrainer,
    MLPTrainingConfig,
    TextTrainer,
    TextTrainingConfig,
    load_text_data,
)

__all__ = [
    "GPT",
    "PRESETS",
    "TRAINERS",
    "BigramCounts",
    "BigramLanguageModel",
    "BigramTrainer",
    "BigramTrainingConfig",
    "CausalSelfAttention",
    "GPTConfig",
    "GPTTrainer",
    "GPTTrainingConfig",
    "KVCache",
    "MLPConfig",
    "MLPLanguageModel",
    "MLPTrainer",
    "MLPTrainingConfig",
    "TextTrainer",
    "TextTrainingConfig",
    "attention",
    "count_bigrams",
    "evaluate_nll",
    "filter_logits",
    "generate",
    "load_text_data",
    "sequential_windows",
]
