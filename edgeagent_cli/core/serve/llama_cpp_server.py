"""llama-cpp-python's OpenAI-compatible server, with chat templates rendered within edgeagent's budget.

`python -m edgeagent_cli.core.serve.llama_cpp_server ARGS` takes the arguments of
`python -m llama_cpp.server`. Before the server starts, llama-cpp-python's Jinja2ChatFormatter (which
renders a model's template without limits, in a worker thread per request) is replaced by one that
renders through `ChatTemplate`: a request whose conversation makes the template loop or balloon
fails in about 3 s instead of holding a worker forever.
"""

from __future__ import annotations

from typing import Any


def budgeted_formatter() -> type:
    from llama_cpp import llama
    from llama_cpp import llama_chat_format as chat_format

    from edgeagent_cli.core.agent.runtime.template import ChatTemplate

    class BudgetedFormatter(chat_format.Jinja2ChatFormatter):  # type: ignore[misc]
        def __init__(self, template: str, eos_token: str, bos_token: str, add_generation_prompt: bool = True,
                     stop_token_ids: list[int] | None = None) -> None:  # fmt: skip
            super().__init__(template, eos_token, bos_token, add_generation_prompt, stop_token_ids)
            self._budgeted = ChatTemplate(template, "the model's chat template", eos_token, bos_token)

        def __call__(self, *, messages: list[Any], tools: list[Any] | None = None, **kwargs: Any) -> Any:
            prompt = self._budgeted.render(list(messages), tools)
            stopping = None
            if self.stop_token_ids is not None:
                ids = self.stop_token_ids
                stopping = llama.StoppingCriteriaList([lambda tokens, logits: tokens[-1] in ids])
            return chat_format.ChatFormatterResponse(
                prompt=prompt, stop=[self.eos_token], stopping_criteria=stopping, added_special=True
            )

    return BudgetedFormatter


def main() -> None:
    import runpy

    from llama_cpp import llama_chat_format

    # Llama() looks the class up in the module each time it loads a model
    setattr(llama_chat_format, "Jinja2ChatFormatter", budgeted_formatter())  # noqa: B010
    runpy.run_module("llama_cpp.server", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
