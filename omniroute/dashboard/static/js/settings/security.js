// Login & password: whether loopback clients need to log in (GET/PUT /api/settings/require-login)
// and the dashboard password (PUT /api/auth/password).
import { get, put } from "../api.js";
import { field, form, h, input, section, toast } from "../ui.js";
import { checkField, intro, value } from "./common.js";

export async function render(container) {
  const { requireLogin } = await get("/api/settings/require-login");

  const state = h("p", { id: "require-login-state", class: "muted" });
  const describe = (on) => {
    state.textContent = on
      ? "Every client must log in, loopback included."
      : "Clients on this machine (127.0.0.1, ::1) use the dashboard and the management API without logging in.";
  };
  describe(requireLogin);
  const loginForm = form([
    checkField("Require login from this machine too", "requireLogin", requireLogin,
      "Turn this off only on a single-user machine: anything running on it could then manage the gateway."),
    state,
  ], async (f) => {
    const answer = await put("/api/settings/require-login", { requireLogin: value(f, "requireLogin") });
    f.elements.namedItem("requireLogin").checked = answer.requireLogin;
    describe(answer.requireLogin);
    toast(answer.requireLogin ? "Login is required" : "Loopback clients no longer need to log in");
  });
  loginForm.id = "require-login-form";

  const current = input({ type: "password", name: "currentPassword", autocomplete: "current-password", required: true });
  const fresh = input({ type: "password", name: "newPassword", autocomplete: "new-password", required: true });
  const repeat = input({ type: "password", name: "repeatPassword", autocomplete: "new-password", required: true });
  const passwordForm = form([
    field("Current password", current),
    field("New password", fresh, "At least 8 characters."),
    field("Repeat the new password", repeat),
  ], async (f) => {
    if (value(f, "newPassword") !== value(f, "repeatPassword")) {
      repeat.focus();
      throw new Error("the new password and its repetition differ");
    }
    await put("/api/auth/password", {
      currentPassword: value(f, "currentPassword"), newPassword: value(f, "newPassword"),
    });
    f.reset();
    toast("Password changed; use the new one at your next login");
  }, "Change password");
  passwordForm.id = "password-form";

  container.append(
    intro("The dashboard and the management API share one password. Sessions already open stay open."),
    section("Login", loginForm),
    section("Change the password", passwordForm),
  );
}
