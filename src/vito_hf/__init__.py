"""vito_hf: VITO self-supervised video pretraining for Hugging Face transformers."""
