// The workspace's SQL editor: CodeMirror 6 with the source's SQL dialect, completion of
// keywords, tables and columns while typing, and the keys an analyst presses by reflex.
//
// Tab indents; Escape then Tab leaves the editor (CodeMirror's tab-focus mode), so the
// editor is no keyboard trap. The rest of the workspace talks to the small object returned
// by createEditor, never to CodeMirror itself.
import { autocompletion, closeBrackets, closeBracketsKeymap, completionKeymap } from "@codemirror/autocomplete";
import { defaultKeymap, history, historyKeymap, indentWithTab } from "@codemirror/commands";
import { MySQL, PostgreSQL, SQLite, sql } from "@codemirror/lang-sql";
import { bracketMatching, defaultHighlightStyle, ensureSyntaxTree, syntaxHighlighting } from "@codemirror/language";
import { lintGutter, setDiagnostics } from "@codemirror/lint";
import { Compartment, EditorState } from "@codemirror/state";
import { EditorView, drawSelection, highlightActiveLine, keymap, lineNumbers } from "@codemirror/view";

const DIALECTS = { postgresql: PostgreSQL, mysql: MySQL, sqlite: SQLite };

// CodeMirror writes its style sheets into <style> elements, which the page's
// Content-Security-Policy lets in only with the nonce the page carries for it
// (templates/web/workspace.html); scripts never get one.
const STYLE_NONCE = document.querySelector('meta[name="qb-style-nonce"]')?.content || "";

/**
 * Replace `textarea` with an editor. `keys` maps actions to callbacks: run (Ctrl/Cmd+Enter),
 * runStatement (Ctrl/Cmd+Shift+Enter), format (Ctrl/Cmd+Shift+F); `onChange` hears every edit.
 */
export function createEditor(textarea, { keys, onChange }) {
  const language = new Compartment();
  let dialect = "postgresql";
  let schema = {};
  const bind = (key, action) => ({ key, preventDefault: true, run: () => (action(), true) });

  const view = new EditorView({
    state: EditorState.create({
      doc: textarea.value,
      extensions: [
        EditorView.cspNonce.of(STYLE_NONCE),
        lineNumbers(),
        history(),
        drawSelection(),
        highlightActiveLine(),
        bracketMatching(),
        closeBrackets(),
        syntaxHighlighting(defaultHighlightStyle, { fallback: true }),
        autocompletion({ activateOnTyping: true, icons: false }),
        lintGutter(),
        language.of(sql({ dialect: PostgreSQL })),
        keymap.of([
          bind("Mod-Enter", keys.run),
          bind("Shift-Mod-Enter", keys.runStatement),
          bind("Shift-Mod-f", keys.format),
          ...closeBracketsKeymap,
          ...completionKeymap,
          ...defaultKeymap,
          ...historyKeymap,
          indentWithTab,
        ]),
        EditorView.updateListener.of((update) => {
          if (update.docChanged) onChange();
        }),
        // tabindex 0 says what contenteditable already does (the text is in the Tab order),
        // so axe-core sees the scrolling box of a long line holds focusable content.
        EditorView.contentAttributes.of({
          "aria-label": textarea.getAttribute("aria-label") || "SQL",
          "aria-multiline": "true",
          tabindex: "0",
        }),
      ],
    }),
  });
  view.dom.id = "editor";
  textarea.hidden = true;
  textarea.after(view.dom);

  function configure() {
    view.dispatch({
      effects: language.reconfigure(sql({ dialect: DIALECTS[dialect] || PostgreSQL, schema, upperCaseKeywords: true })),
    });
  }

  const editor = {
    view,
    getValue: () => view.state.doc.toString(),
    setValue(text) {
      view.dispatch({ changes: { from: 0, to: view.state.doc.length, insert: text }, selection: { anchor: 0 } });
    },
    focus: () => view.focus(),
    /** Put the cursor at an offset of the text (where a pick from the schema tree goes). */
    setCursor(offset) {
      view.dispatch({ selection: { anchor: Math.max(0, Math.min(offset, view.state.doc.length)) } });
    },
    replaceSelection(text) {
      view.dispatch(view.state.replaceSelection(text));
    },
    /** The SQL dialect of the selected source, for highlighting and keywords. */
    setDialect(engine) {
      dialect = engine;
      configure();
    },
    /** Tables and their columns, completed while typing. */
    setSchema(tables) {
      schema = tables;
      configure();
    },
    /** The selected text and where it starts, or null when nothing is selected. */
    selection() {
      const range = view.state.selection.main;
      return range.empty ? null : { text: view.state.sliceDoc(range.from, range.to), from: range.from };
    },
    /** The statement the cursor is in (or just after) and where it starts, as the SQL
     * grammar splits them: a `;` inside a string or a comment splits nothing. */
    statementAtCursor() {
      const state = view.state;
      const head = state.selection.main.head;
      const tree = ensureSyntaxTree(state, state.doc.length, 500);
      if (!tree) return null;
      const cursor = tree.topNode.cursor();
      let before = null;
      if (cursor.firstChild()) {
        do {
          if (cursor.name !== "Statement") continue;
          if (cursor.from <= head && head <= cursor.to) return { text: state.sliceDoc(cursor.from, cursor.to), from: cursor.from };
          if (cursor.to <= head) before = { from: cursor.from, to: cursor.to };
        } while (cursor.nextSibling());
      }
      return before ? { text: state.sliceDoc(before.from, before.to), from: before.from } : null;
    },
    /** Underline [from, to) with `message`; from/to are offsets into the text. */
    markError(from, to, message) {
      const length = view.state.doc.length;
      const start = Math.max(0, Math.min(from, length));
      const end = Math.max(start, Math.min(to, length));
      view.dispatch(setDiagnostics(view.state, [{ from: start, to: end, severity: "error", message }]));
    },
    clearErrors() {
      view.dispatch(setDiagnostics(view.state, []));
    },
  };
  return editor;
}
