import { useMutation } from "@tanstack/react-query";
import { useEffect, useRef } from "react";
import { Link, useSearchParams } from "react-router-dom";
import { isApiError } from "../api/client";
import { useAuth } from "../auth/AuthProvider";
import { ErrorBox, Notice, PageLoading } from "../components/ui";
import { usePageTitle } from "../components/usePageTitle";
import { api } from "../lib/api";

/** /verify-email?token=...: the link of the verification mail. Works without logging in (the
 * mail may be opened on another device); posts the token once and says what happened. */
export function VerifyEmailPage() {
  usePageTitle("Confirm your email address");
  const [params] = useSearchParams();
  const token = params.get("token") ?? "";
  const { user } = useAuth();
  const verify = useMutation({
    mutationFn: () => api.verifyEmail(token),
    // Logged in here: the account's flag follows (the account page reads it).
    onSuccess: () => {
      if (user) api.me().catch(() => {});
    },
  });
  const sent = useRef(false);
  useEffect(() => {
    if (token && !sent.current) {
      sent.current = true;
      verify.mutate();
    }
  }, [token, verify]);

  return (
    <div className="mx-auto max-w-xl space-y-6">
      <h1 className="text-2xl font-bold">Confirm your email address</h1>
      {!token ? (
        <Notice tone="warning" title="This link is incomplete">
          Open the link from the mail we sent you exactly as it is (some mail programs cut long
          links: copy the whole link into the address bar).
        </Notice>
      ) : verify.isSuccess ? (
        <Notice tone="success" title="Your email address is confirmed">
          Thank you: {verify.data.email} is confirmed. You can now register for presales that ask
          for a confirmed address.{" "}
          <Link className="font-semibold underline" to="/">
            Find concerts
          </Link>
        </Notice>
      ) : verify.isError ? (
        <>
          {isApiError(verify.error) && verify.error.code === "InvalidVerificationToken" ? (
            <Notice tone="error" title="This link does not work">
              {verify.error.detail}
            </Notice>
          ) : (
            <ErrorBox error={verify.error} onRetry={() => verify.mutate()} />
          )}
          <p className="text-sm text-slate-600">
            <Link className="font-semibold text-brand-700 underline" to="/account">
              Go to your account
            </Link>{" "}
            to get a new link (log in first if you are not).
          </p>
        </>
      ) : (
        <PageLoading label="Confirming your email address" />
      )}
    </div>
  );
}
