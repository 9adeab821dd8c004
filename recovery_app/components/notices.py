"""Shows `NoticeState`'s toasts (recovery_app/states/notices.py) with Reflex's own toaster,
from code compiled into the app root: no `eval`, so it works under the production CSP."""

import reflex as rx
from reflex.vars.base import Var, VarData
from reflex_base.components.memo import memo
from reflex_base.constants import Dirs
from reflex_base.utils.imports import ImportVar

from recovery_app.states.notices import NoticeState

# Which notices this tab already showed (by id): a reload hydrates the same list again.
_SHOW_NOTICES = """
const RECOVERY_SHOWN_NOTICES = "recovery_notices_shown";
function showRecoveryNotices(notices, toast) {
  if (!toast || !Array.isArray(notices) || notices.length === 0) return false;
  let shown = [];
  try {
    shown = JSON.parse(window.sessionStorage.getItem(RECOVERY_SHOWN_NOTICES) || "[]");
  } catch (e) {
    shown = [];
  }
  for (const notice of notices) {
    if (shown.includes(notice.id)) continue;
    shown.push(notice.id);
    const show = typeof toast[notice.kind] === "function" ? toast[notice.kind] : toast;
    show(notice.message, notice.key ? { id: notice.key } : {});
  }
  window.sessionStorage.setItem(RECOVERY_SHOWN_NOTICES, JSON.stringify(shown.slice(-50)));
  return true;
}
"""


class NoticeToaster(rx.Fragment):
    """Renders nothing; its effect toasts every notice this tab has not shown yet."""

    def add_custom_code(self) -> list[str]:
        return [_SHOW_NOTICES]

    def add_hooks(self) -> list[str | Var]:
        notices = NoticeState.notices
        # The toaster registers itself in `refs` while it renders; read it when the effect runs
        # (after the whole tree rendered) and try once more shortly if it is not there yet.
        # A statement, not a parenthesised expression: Reflex writes hooks one per line.
        return [
            Var(
                _js_expr=(
                    f"useEffect(() => {{ const notices = {notices!s}; "
                    "if (!showRecoveryNotices(notices, refs['__toast'])) { "
                    "const retry = setTimeout(() => showRecoveryNotices(notices, refs['__toast']), "
                    f"250); return () => clearTimeout(retry); }} }}, [{notices!s}]);"
                ),
                _var_data=VarData.merge(
                    notices._get_all_var_data(),
                    VarData(
                        imports={
                            f"$/{Dirs.STATE_PATH}": [ImportVar(tag="refs")],
                            "react": [ImportVar(tag="useEffect")],
                        }
                    ),
                ),
            )
        ]


@memo
def recovery_notices() -> rx.Component:
    # Its own memo component: the hook reads state, so it must render inside the providers.
    return NoticeToaster.create()


def notice_toaster() -> rx.Component:
    return rx.Fragment.create(recovery_notices())
