// The login form: POST /api/auth/login, then on to the page that sent us here.
const form = document.getElementById("login-form");
const error = document.getElementById("login-error");

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  error.textContent = "";
  const button = form.querySelector("button");
  button.disabled = true;
  try {
    const resp = await fetch("/api/auth/login", {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ password: form.password.value }),
    });
    if (!resp.ok) {
      let message = `${resp.status}`;
      try { message = (await resp.json()).error || message; } catch { /* not JSON */ }
      error.textContent = message;
      return;
    }
    const next = new URLSearchParams(location.search).get("next");
    location.assign(next && next.startsWith("/dashboard") ? next : "/dashboard");
  } finally {
    button.disabled = false;
  }
});
