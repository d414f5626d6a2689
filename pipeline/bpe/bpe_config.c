/* bpe_config.c - the [tokenizer] configuration section (tokenizer training). */
#include "bpe_train.h"

const tm_config_key tm_tokenizer_config_keys[] = {
    {"tokenizer", "vocab_size", TM_CFG_INT, "32768",
     "vocabulary size of a trained tokenizer, special tokens and the 256 byte symbols included"},
    {"tokenizer", "min_frequency", TM_CFG_INT, "0", "a pair seen fewer times is never merged"},
    {"tokenizer", "special_tokens", TM_CFG_STR, "<|endoftext|>",
     "comma-separated special tokens; they get the first ids"},
    {"tokenizer", "alphabet", TM_CFG_STR, "full",
     "full: all 256 byte symbols (lossless); seen: only bytes in the training text (HF default)"},
    {"tokenizer", "pattern", TM_CFG_STR, "gpt2", "pre-tokenizer pattern: gpt2 or gpt4 (cl100k)"},
    {"tokenizer", "max_words", TM_CFG_INT, "16777216",
     "cap on distinct words counted in training; rare words are pruned beyond it"},
    {"tokenizer", "threads", TM_CFG_INT, "0", "threads for word counting (0: all cores)"},
    {.key = NULL},
};
