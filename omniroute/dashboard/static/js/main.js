// Loads the page module named by <body data-page> and renders it into <main>.
import { errorBox, clear } from "./ui.js";

const page = document.body.dataset.page;
const root = document.getElementById("app");

async function start() {
  if (!page || page === "login") return;
  try {
    const mod = await import(`./pages/${page}.js`);
    await mod.render(root);
  } catch (err) {
    clear(root, errorBox(`This page could not load: ${err.message || err}`));
    throw err;
  } finally {
    document.body.dataset.ready = "true"; // browser tests wait for this
  }
}

const logout = document.getElementById("logout");
if (logout) {
  logout.addEventListener("submit", async (event) => {
    event.preventDefault();
    const token = document.querySelector('meta[name="csrf-token"]')?.content || "";
    await fetch("/api/auth/logout", { method: "POST", credentials: "same-origin", headers: { "X-CSRF-Token": token } });
    location.assign("/dashboard/login");
  });
}

start();
