// Charts of the result on screen (Chart.js): bar, line, scatter or pie, of the columns the
// user picks. A bundle of its own, loaded when a chart is first shown.
import {
  ArcElement,
  BarController,
  BarElement,
  CategoryScale,
  Chart,
  Legend,
  LineController,
  LineElement,
  LinearScale,
  PieController,
  PointElement,
  ScatterController,
  Tooltip,
} from "chart.js";

Chart.register(
  ArcElement, BarController, BarElement, CategoryScale, Legend, LineController, LineElement,
  LinearScale, PieController, PointElement, ScatterController, Tooltip
);

const COLOURS = ["#2456d6", "#e5484d", "#137333", "#a15c00", "#7a3fd1"];

/** A number from a cell: exact decimals and big integers arrive as text. */
function numberOf(value) {
  if (value === null || value === "") return null;
  const number = typeof value === "number" ? value : Number(value);
  return Number.isFinite(number) ? number : null;
}

/** Draw `config` ({ type, x, y: [columns] }) of `data` ({ columns, rows }) on `canvas`. */
function draw(canvas, config, data) {
  const names = data.columns.map((column) => column.name);
  const xi = names.indexOf(config.x);
  const series = config.y.map((name) => names.indexOf(name)).filter((index) => index >= 0);
  if (xi < 0 || !series.length) return null;
  const labels = data.rows.map((row) => (row[xi] === null ? "NULL" : String(row[xi])));
  const datasets = series.map((index, n) => {
    const colour = COLOURS[n % COLOURS.length];
    const values = data.rows.map((row) =>
      config.type === "scatter" ? { x: numberOf(row[xi]), y: numberOf(row[index]) } : numberOf(row[index])
    );
    return {
      label: names[index],
      data: values,
      borderColor: config.type === "pie" ? "#fff" : colour,
      backgroundColor: config.type === "pie" ? labels.map((_, i) => COLOURS[i % COLOURS.length]) : colour,
    };
  });
  return new Chart(canvas, {
    type: config.type,
    data: config.type === "scatter" ? { datasets } : { labels, datasets },
    options: {
      animation: false,
      maintainAspectRatio: false,
      scales: config.type === "pie" ? {} : { x: { type: config.type === "scatter" ? "linear" : "category" } },
      plugins: { legend: { display: series.length > 1 || config.type === "pie" } },
    },
  });
}

window.QBCharts = { draw };
