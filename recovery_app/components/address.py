"""Keep the address bar in step with what a page shows, without a navigation or `eval`.

A page state sets a var to the address of the current view (`/roi?from=...`); the effect
below, compiled into the page, replaces the browser's address with it. Reflex's
`rx.call_script("window.history.replaceState(...)")` did the same by sending code to
`eval`, which the production CSP forbids; `rx.redirect` would navigate and run the page's
on_load (its queries) a second time.
"""

from typing import ClassVar

import reflex as rx
from reflex.vars.base import Var, VarData
from reflex_base.utils.imports import ImportVar


class AddressSync(rx.Fragment):
    """Subclass it with `address` set to a state's str var; render it once on the page."""

    address: ClassVar[Var[str]]

    def add_hooks(self) -> list[str | Var]:
        address = type(self).address
        # A statement, not a parenthesised expression: Reflex writes hooks one per line.
        return [
            Var(
                _js_expr=(
                    f"useEffect(() => {{ const address = {address!s}; "
                    "if (address && address !== window.location.pathname + window.location.search) "
                    "{ window.history.replaceState(window.history.state, '', address); } }, "
                    f"[{address!s}]);"
                ),
                _var_data=VarData.merge(
                    address._get_all_var_data(),
                    VarData(imports={"react": [ImportVar(tag="useEffect")]}),
                ),
            )
        ]
