// Query tabs and their drafts, kept in this browser (localStorage) so that a reload, a crash
// or a visit to another page loses nothing: each tab keeps its SQL, source, parameters and
// the saved query it is a copy of. Each user's drafts have a key of their own: someone who
// signs in after another on the same browser never sees the other's SQL.
const KEY_PREFIX = "querybase.workspace.tabs.v1";

function load(key) {
  try {
    const stored = JSON.parse(window.localStorage.getItem(key));
    if (stored && Array.isArray(stored.tabs) && stored.tabs.length) return stored;
  } catch (ignored) {
    // A corrupt or foreign value: start afresh rather than fail the page.
  }
  return null;
}

export class Drafts {
  constructor(defaults, user) {
    this.key = `${KEY_PREFIX}.${user}`;
    this.state = load(this.key) || { active: null, next: 1, tabs: [] };
    if (!this.state.tabs.length) this.add(defaults);
    if (!this.tab(this.state.active)) this.state.active = this.state.tabs[0].id;
  }

  get tabs() {
    return this.state.tabs;
  }

  get active() {
    return this.tab(this.state.active);
  }

  tab(id) {
    return this.state.tabs.find((tab) => tab.id === id) || null;
  }

  /** A new tab holding `fields` (sql, datasource, params, saved), made the active one. */
  add(fields) {
    const id = `t${this.state.next++}`;
    const tab = { id, sql: "", datasource: null, params: {}, saved: null, chart: null, ...fields };
    this.state.tabs.push(tab);
    this.state.active = id;
    this.persist();
    return tab;
  }

  activate(id) {
    if (this.tab(id)) this.state.active = id;
    this.persist();
  }

  /** Close a tab; the last one is emptied instead, so there is always a tab. */
  close(id, defaults) {
    const index = this.state.tabs.findIndex((tab) => tab.id === id);
    if (index < 0) return;
    this.state.tabs.splice(index, 1);
    if (!this.state.tabs.length) this.add(defaults);
    else if (this.state.active === id) this.state.active = this.state.tabs[Math.max(0, index - 1)].id;
    this.persist();
  }

  update(fields) {
    Object.assign(this.active, fields);
    this.persist();
  }

  persist() {
    try {
      window.localStorage.setItem(this.key, JSON.stringify(this.state));
    } catch (ignored) {
      // Storage full or disabled (private mode): the tabs still work for this visit.
    }
  }
}

/** A tab's title: its saved query's name, else its first words of SQL. */
export function titleOf(tab, index) {
  if (tab.saved) return tab.saved.name;
  const words = tab.sql.replace(/\s+/g, " ").trim();
  return words ? words.slice(0, 24) + (words.length > 24 ? "…" : "") : `Query ${index + 1}`;
}

/** Edits not yet saved to the tab's saved query (a draft never saved has nothing to lose
 * on a reload: it is kept here). */
export function unsaved(tab) {
  if (!tab.saved) return false;
  return tab.sql !== tab.saved.sql || JSON.stringify(tab.chart || null) !== JSON.stringify(tab.saved.chart || null);
}
