"""Autoregressive text models, from bigram counts to a GPT, behind one interface.

Every model: ``forward(idx, targets=None) -> (logits, loss)`` and ``generate(idx, max_new_tokens, ...)``,
so one training loop (``training``), one sampler (``generation``) and one evaluation (``evaluation``) serve all.
Every tokenizer (characters, or byte-level BPE from ``bpe``) follows one protocol (``tokenizer``).
"""

from genlearn.text.bpe import BytePairTokenizer
from genlearn.text.bigram import BigramCounts, BigramLanguageModel, count_bigrams
from genlearn.text.evaluation import evaluate_nll, sequential_windows
from genlearn.text.generation import filter_logits, generate
from genlearn.text.gpt import GPT, CausalSelfAttention, GPTConfig, KVCache, RotaryEmbedding, attention
from genlearn.text.corpus import Corpus, NamesCorpus, StreamCorpus, load_corpus
from genlearn.text.mlp import MLPConfig, MLPLanguageModel
from genlearn.text.tokenizer import Tokenizer, token_bytes
from genlearn.text.training import (
    BIGRAM_PRESETS,
    GPT_BPE_PRESETS,
    GPT_NAMES_PRESETS,
    GPT_PRESETS,
    MLP_PRESETS,
    BigramTrainer,
    BigramTrainingConfig,
    GPTTrainer,
    GPTTrainingConfig,
    MLPTrainer,
    MLPTrainingConfig,
    TextTrainer,
    TextTrainingConfig,
)

__all__ = [
    "BIGRAM_PRESETS",
    "GPT",
    "GPT_BPE_PRESETS",
    "GPT_NAMES_PRESETS",
    "GPT_PRESETS",
    "MLP_PRESETS",
    "BigramCounts",
    "BigramLanguageModel",
    "BigramTrainer",
    "BigramTrainingConfig",
    "BytePairTokenizer",
    "CausalSelfAttention",
    "Corpus",
    "GPTConfig",
    "GPTTrainer",
    "GPTTrainingConfig",
    "KVCache",
    "MLPConfig",
    "MLPLanguageModel",
    "MLPTrainer",
    "MLPTrainingConfig",
    "NamesCorpus",
    "RotaryEmbedding",
    "StreamCorpus",
    "TextTrainer",
    "TextTrainingConfig",
    "Tokenizer",
    "attention",
    "count_bigrams",
    "evaluate_nll",
    "filter_logits",
    "generate",
    "load_corpus",
    "sequential_windows",
    "token_bytes",
]
