"""Where models come from: Hugging Face (huggingface) and a package index (package_index)."""
