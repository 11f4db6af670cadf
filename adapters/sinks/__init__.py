"""Built-in sinks: folder, jsonl, webhook, postgres (entry point group ``enlace.sinks``)."""
