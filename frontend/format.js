// Format SQL (Ctrl/Cmd+Shift+F): sql-formatter, loaded on first use (its own bundle, so the
// workspace's first load stays light). Only whitespace and keyword case change.
import { formatDialect, mysql, postgresql, sqlite } from "sql-formatter";

const DIALECTS = { postgresql, mysql, sqlite };

window.QBFormat = {
  format(text, engine) {
    return formatDialect(text, {
      dialect: DIALECTS[engine] || postgresql,
      keywordCase: "upper",
      // $1 … and :name are QueryBase's placeholders on every engine.
      paramTypes: { numbered: ["$"], named: [":"] },
    });
  },
};
