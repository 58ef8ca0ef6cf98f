import type { ComponentType, ReactNode } from "react";
import { useLocation } from "react-router-dom";
import { useAuth } from "../../auth/AuthProvider";
import { LoginRequired, Notice } from "../../components/ui";
import { usePageTitle } from "../../components/usePageTitle";

/** The title of an organiser page that is not shown (not logged in, not an organiser). */
function Titled({ title, children }: { title: string; children: ReactNode }) {
  usePageTitle(title);
  return <>{children}</>;
}

export function AdminOnly({
  next,
  title,
  children,
}: {
  next: string;
  title: string;
  children: ReactNode;
}) {
  const { user } = useAuth();
  if (!user) {
    return (
      <Titled title={title}>
        <LoginRequired what="organise concerts" next={next} />
      </Titled>
    );
  }
  if (user.role !== "admin") {
    return (
      <Titled title={title}>
        <Notice tone="warning" title="Organisers only">
          This part of Encore is for organiser accounts. Log in with one to create concerts and
          follow on-sales.
        </Notice>
      </Titled>
    );
  }
  return <>{children}</>;
}

/** `Page` for organisers only: anyone else is asked to log in, and comes back to this page.
 * `title` is the page's title until `Page` gives a more precise one. */
export function adminPage(Page: ComponentType, title: string): ComponentType {
  return function AdminPage() {
    const { pathname } = useLocation();
    return (
      <AdminOnly next={pathname} title={title}>
        <Page />
      </AdminOnly>
    );
  };
}
