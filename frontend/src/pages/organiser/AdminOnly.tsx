import type { ComponentType, ReactNode } from "react";
import { useLocation } from "react-router-dom";
import { useAuth } from "../../auth/AuthProvider";
import { LoginRequired, Notice } from "../../components/ui";

export function AdminOnly({ next, children }: { next: string; children: ReactNode }) {
  const { user } = useAuth();
  if (!user) return <LoginRequired what="organise concerts" next={next} />;
  if (user.role !== "admin") {
    return (
      <Notice tone="warning" title="Organisers only">
        This part of Encore is for organiser accounts. Log in with one to create concerts and follow
        on-sales.
      </Notice>
    );
  }
  return <>{children}</>;
}

/** `Page` for organisers only: anyone else is asked to log in, and comes back to this page. */
export function adminPage(Page: ComponentType): ComponentType {
  return function AdminPage() {
    const { pathname } = useLocation();
    return (
      <AdminOnly next={pathname}>
        <Page />
      </AdminOnly>
    );
  };
}
