"""Keyboard shortcuts that press a page's own buttons, so a key does exactly what a click does.

Compiled into the page as an effect (added on mount, removed on unmount): no inline script,
which `rx.script` would inject through react-helmet (deprecated React lifecycles, and code the
CSP has to allow inline).
"""

import json
from typing import ClassVar

import reflex as rx
from reflex.vars.base import Var, VarData
from reflex_base.utils.imports import ImportVar


class KeyboardShortcuts(rx.Fragment):
    """Subclass it with `keys` = {key: element id}; render it once on the page. Keys typed in a
    field, or with Ctrl/Alt/Cmd, are left alone."""

    keys: ClassVar[dict[str, str]]

    def add_hooks(self) -> list[str | Var]:
        keys = json.dumps(type(self).keys)
        return [
            Var(
                _js_expr=(
                    "useEffect(() => { "
                    f"const keys = {keys}; "
                    "const onKey = (event) => { "
                    "const tag = (event.target.tagName || '').toLowerCase(); "
                    "if (tag === 'input' || tag === 'textarea' || tag === 'select' "
                    "|| event.target.isContentEditable "
                    "|| event.metaKey || event.ctrlKey || event.altKey) return; "
                    "const button = keys[event.key] && document.getElementById(keys[event.key]); "
                    "if (button) { event.preventDefault(); button.click(); } }; "
                    "document.addEventListener('keydown', onKey); "
                    "return () => document.removeEventListener('keydown', onKey); }, []);"
                ),
                _var_data=VarData(imports={"react": [ImportVar(tag="useEffect")]}),
            )
        ]
