import { type FormEvent, useState } from "react";
import { Link, useNavigate, useSearchParams } from "react-router-dom";
import { allFieldsShown, fieldErrors } from "../api/errors";
import { useAuth } from "../auth/AuthProvider";
import { ErrorBox, InputField } from "../components/ui";
import { useDraft } from "../components/useDraft";
import { usePageTitle } from "../components/usePageTitle";

/** Where to go after logging in: only paths of this app (no open redirect). */
function safeNext(next: string | null): string {
  return next?.startsWith("/") && !next.startsWith("//") ? next : "/";
}

export function AuthPage({ mode }: { mode: "login" | "signup" }) {
  const { login, signup } = useAuth();
  const navigate = useNavigate();
  const [params] = useSearchParams();
  const next = safeNext(params.get("next"));
  const { draft, bind } = useDraft({ email: "", password: "", name: "" });
  const { email, password, name } = draft;
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const fields = fieldErrors(error);
  const isSignup = mode === "signup";
  usePageTitle(isSignup ? "Sign up" : "Log in");
  /** An input of the form: its id is its field's, and so is the API's error for it. */
  const input = (key: keyof typeof draft) => ({
    id: key,
    error: fields[key],
    "aria-invalid": Boolean(fields[key]),
    ...bind(key),
  });

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      if (isSignup) await signup(email.trim(), password, name.trim());
      else await login(email.trim(), password);
      navigate(next, { replace: true });
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };

  const other = isSignup ? "/login" : "/signup";
  return (
    <div className="mx-auto max-w-md">
      <form className="card space-y-4" onSubmit={submit} noValidate aria-labelledby="auth-title">
        <h1 id="auth-title" className="text-2xl font-bold">
          {isSignup ? "Create your account" : "Log in"}
        </h1>
        {error !== null && !allFieldsShown(error, Object.keys(draft)) && <ErrorBox error={error} />}
        {isSignup && (
          <InputField
            label="Name"
            {...input("name")}
            autoComplete="name"
            required
            maxLength={100}
          />
        )}
        <InputField label="Email" {...input("email")} type="email" autoComplete="email" required />
        <InputField
          label="Password"
          {...input("password")}
          {...(isSignup ? { hint: "At least 8 characters." } : {})}
          type="password"
          autoComplete={isSignup ? "new-password" : "current-password"}
          required
          minLength={isSignup ? 8 : 1}
        />
        <button type="submit" className="btn-primary w-full" disabled={busy}>
          {busy ? "Please wait…" : isSignup ? "Sign up" : "Log in"}
        </button>
        <p className="text-center text-sm text-slate-600">
          {isSignup ? "Already have an account?" : "New here?"}{" "}
          <Link
            className="font-semibold text-brand-700 underline"
            to={`${other}?next=${encodeURIComponent(next)}`}
          >
            {isSignup ? "Log in" : "Create an account"}
          </Link>
        </p>
      </form>
    </div>
  );
}
