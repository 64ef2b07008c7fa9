"""The look: a light stylesheet derived from the system palette, so dark mode stays readable.

Colours are mixed from the palette's own base, text and highlight instead of hard-coded, which
keeps text dark on light and light on dark without a separate theme.
"""

from __future__ import annotations

from PySide6.QtGui import QColor, QFont, QFontDatabase, QGuiApplication, QPalette
from PySide6.QtWidgets import QWidget


def is_dark(palette: QPalette) -> bool:
    return palette.color(QPalette.ColorRole.Base).lightnessF() < 0.5


def mix(a: QColor, b: QColor, t: float) -> str:
    """`a` moved a fraction `t` toward `b`, as #rrggbb."""
    return QColor(
        round(a.red() + (b.red() - a.red()) * t),
        round(a.green() + (b.green() - a.green()) * t),
        round(a.blue() + (b.blue() - a.blue()) * t),
    ).name()


def resized_font(source: QFont, factor: float) -> QFont:
    """A copy of `source` resized relative to itself (works for point- and pixel-sized fonts)."""
    font = QFont(source)
    if font.pointSizeF() > 0:
        font.setPointSizeF(max(1.0, font.pointSizeF() * factor))
    elif font.pixelSize() > 0:
        font.setPixelSize(max(1, round(font.pixelSize() * factor)))
    return font


def scaled_font(widget: QWidget, factor: float, *, bold: bool = False) -> QFont:
    """The widget's font, resized relative to itself."""
    font = resized_font(widget.font(), factor)
    font.setBold(bold)
    return font


def _size(base: QFont, factor: float) -> str:
    """A CSS font size `factor` times `base`, in the unit the base font uses."""
    if base.pointSizeF() > 0:
        return f"{base.pointSizeF() * factor:.2f}pt"
    return f"{max(1, round(base.pixelSize() * factor))}px"


def _fixed_family() -> str:
    return QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont).family().replace('"', "")


def stylesheet(palette: QPalette, text_scale: int = 100) -> str:
    """The whole window's look. `text_scale` (percent) sizes the chat: the transcript, the message
    box and the reasoning panel; smaller labels (role, footer, buttons) keep their proportion."""
    base_font = QGuiApplication.font()
    scale = text_scale / 100
    chat, small = _size(base_font, scale), _size(base_font, 0.85 * scale)
    code = _size(base_font, 0.95 * scale)
    role = QPalette.ColorRole
    base, text = palette.color(role.Base), palette.color(role.Text)
    window, accent = palette.color(role.Window), palette.color(role.Highlight)
    dark = is_dark(palette)
    text_hex = text.name()
    muted = mix(text, base, 0.42)
    user_bubble = mix(base, accent, 0.28 if dark else 0.12)
    bot_bubble = mix(base, text, 0.05 if dark else 0.025)
    border = mix(base, text, 0.16)
    selected = mix(base, accent, 0.6)
    info_bg = mix(base, accent, 0.22 if dark else 0.09)
    error_bg, error_fg = ("#4a1c17", "#ffb4a9") if dark else ("#fdecea", "#8c1d18")
    reasoning_bg = mix(base, text, 0.08 if dark else 0.04)
    code_bg = "#0d1117" if dark else mix(base, text, 0.045)  # github-dark's own background
    return f"""
QWidget#transcriptContent QWidget, QPlainTextEdit#prompt, QDockWidget#reasoningDock QWidget {{
    font-size: {chat};
}}
QWidget#transcriptContent QLabel#roleLabel {{ font-size: {small}; font-weight: bold; }}
QWidget#transcriptContent QLabel#footer, QWidget#transcriptContent QLabel#codeLanguage,
QWidget#transcriptContent QLabel#branchPosition, QWidget#transcriptContent QToolButton {{
    font-size: {small};
}}
QWidget#transcriptContent QLabel#codeText {{ font-family: "{_fixed_family()}"; font-size: {code}; }}
QWidget#transcriptContent, QScrollArea#transcript {{ background: {base.name()}; }}
QLabel#emptyChat {{ color: {muted}; }}
QFrame#bubble {{
    background: {bot_bubble}; border: 1px solid {border}; border-radius: 12px;
}}
QFrame#bubble[role="user"] {{ background: {user_bubble}; border-color: {user_bubble}; }}
QFrame#bubble[selected="true"] {{ border: 1px solid {selected}; }}
QFrame#bubble QLabel {{ color: {text_hex}; background: transparent; }}
QFrame#bubble QLabel#roleLabel, QFrame#bubble QLabel#footer,
QFrame#bubble QLabel#emptyAnswer {{ color: {muted}; }}
QFrame#bubble QLabel#reasoningText {{
    color: {muted}; background: {reasoning_bg}; border-left: 3px solid {border};
    border-radius: 4px; padding: 6px 8px;
}}
QFrame#bubble QLabel#errorText {{ color: {error_fg}; background: {error_bg};
    border-radius: 6px; padding: 6px 8px; }}
QFrame#codeBlock {{ background: {code_bg}; border: 1px solid {border}; border-radius: 8px; }}
QFrame#codeBlock QLabel#codeLanguage {{ color: {muted}; }}
QToolButton#reasoningToggle, QToolButton#copyButton, QToolButton#codeCopyButton {{
    color: {muted}; border: none; background: transparent; padding: 2px 4px;
}}
QToolButton#reasoningToggle:hover, QToolButton#copyButton:hover,
QToolButton#codeCopyButton:hover {{ color: {text_hex}; }}
QToolButton:focus {{ border: 1px solid {accent.name()}; border-radius: 4px; }}
QFrame#banner[kind="error"] {{ background: {error_bg}; border-radius: 8px; }}
QFrame#banner[kind="error"] QLabel {{ color: {error_fg}; }}
QFrame#banner[kind="info"] {{ background: {info_bg}; border-radius: 8px; }}
QFrame#banner[kind="info"] QLabel {{ color: {text_hex}; }}
QFrame#composer {{ background: {window.name()}; border-top: 1px solid {border}; }}
QPlainTextEdit#prompt {{
    background: {base.name()}; color: {text_hex}; border: 1px solid {border};
    border-radius: 10px; padding: 6px 8px;
}}
QPlainTextEdit#prompt:focus {{ border-color: {accent.name()}; }}
QPushButton#sendButton {{
    background: {accent.name()}; color: {palette.color(role.HighlightedText).name()};
    border: none; border-radius: 8px; padding: 7px 18px; font-weight: bold;
}}
QPushButton#sendButton:disabled {{ background: {border}; color: {muted}; }}
QPushButton#sendButton[stop="true"] {{ background: {error_bg}; color: {error_fg}; }}
QWidget#welcome {{ background: {base.name()}; }}
QLabel#welcomeBody, QLabel#welcomeDownload, QLabel#welcomeStatus {{ color: {muted}; }}
QPushButton#openModelButton {{
    background: {accent.name()}; color: {palette.color(role.HighlightedText).name()};
    border: none; border-radius: 8px; padding: 9px 22px; font-weight: bold;
}}
QPushButton#openModelButton:disabled {{ background: {border}; color: {muted}; }}
QLabel#panelMeta {{ color: {muted}; }}
QLabel#presetError {{ color: {error_fg}; background: {error_bg}; border-radius: 6px; padding: 6px 8px; }}
QToolButton#adaptersButton {{
    color: {text_hex}; background: {info_bg}; border: 1px solid transparent; border-radius: 6px;
    padding: 2px 8px;
}}
QToolButton#adaptersButton:hover {{ border-color: {accent.name()}; }}
QToolButton#adaptersButton:disabled {{ color: {muted}; }}
QFrame#adapterPopup {{ background: {window.name()}; border: 1px solid {border}; }}
QLabel#adapterPopupTitle {{ font-weight: bold; }}
QLabel#adapterPopupHint {{ color: {muted}; }}
QLabel#jsonAnswerLabel {{
    color: {text_hex}; background: {info_bg}; border-radius: 6px; padding: 2px 8px;
}}
QPlainTextEdit#schemaEdit {{ font-family: "{_fixed_family()}"; }}
QPlainTextEdit#reasoningTrace {{
    background: {reasoning_bg}; color: {text_hex}; border: none; border-radius: 6px;
    padding: 4px;
}}
"""


def repolish(widget: QWidget) -> None:
    """Re-apply the stylesheet after a dynamic property used in a selector changed."""
    style = widget.style()
    style.unpolish(widget)
    style.polish(widget)
    widget.update()
