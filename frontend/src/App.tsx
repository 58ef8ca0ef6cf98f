import { lazy, Suspense, useState } from "react";
import { Link, NavLink, Route, Routes, useLocation, useNavigate } from "react-router-dom";
import { useAuth } from "./auth/AuthProvider";
import { Notice, PageLoading } from "./components/ui";
import { AccountPage } from "./pages/AccountPage";
import { AuthPage } from "./pages/AuthPage";
import { BrowsePage } from "./pages/BrowsePage";
import { CheckoutPage } from "./pages/CheckoutPage";
import { ConcertPage } from "./pages/ConcertPage";
import { NotFoundPage } from "./pages/NotFoundPage";
import { OrderPage } from "./pages/OrderPage";
import { QueuePage } from "./pages/QueuePage";
import { VerifyEmailPage } from "./pages/VerifyEmailPage";

// Organiser pages are a separate chunk: most visitors never load them.
const OrganiserHome = lazy(() => import("./pages/organiser/OrganiserHome"));
const CreateConcertPage = lazy(() => import("./pages/organiser/CreateConcertPage"));
const LiveConcertPage = lazy(() => import("./pages/organiser/LiveConcertPage"));
const DoorPage = lazy(() => import("./pages/organiser/DoorPage"));

export function App() {
  return (
    <div className="flex min-h-screen flex-col">
      <Header />
      <SessionEndedBanner />
      <main className="mx-auto w-full max-w-6xl flex-1 px-4 py-6 sm:px-6">
        <Suspense fallback={<PageLoading />}>
          <Routes>
            <Route path="/" element={<BrowsePage />} />
            <Route path="/login" element={<AuthPage mode="login" />} />
            <Route path="/signup" element={<AuthPage mode="signup" />} />
            <Route path="/concerts/:concertId" element={<ConcertPage />} />
            <Route path="/concerts/:concertId/queue" element={<QueuePage />} />
            <Route path="/checkout" element={<CheckoutPage />} />
            <Route path="/orders/:orderId" element={<OrderPage />} />
            <Route path="/account" element={<AccountPage />} />
            <Route path="/verify-email" element={<VerifyEmailPage />} />
            <Route path="/organiser" element={<OrganiserHome />} />
            <Route path="/organiser/new" element={<CreateConcertPage />} />
            <Route path="/organiser/concerts/:concertId" element={<LiveConcertPage />} />
            <Route path="/organiser/concerts/:concertId/door" element={<DoorPage />} />
            <Route path="*" element={<NotFoundPage />} />
          </Routes>
        </Suspense>
      </main>
      <footer className="border-t border-slate-200 py-4 text-center text-xs text-slate-500">
        Encore · tickets that are never sold twice ·{" "}
        <a className="underline" href="/docs">
          API
        </a>
      </footer>
    </div>
  );
}

function Header() {
  const { user, logout } = useAuth();
  const navigate = useNavigate();
  const [open, setOpen] = useState(false);
  const link = ({ isActive }: { isActive: boolean }) =>
    `rounded-md px-3 py-2 text-sm font-medium ${isActive ? "bg-brand-50 text-brand-700" : "text-slate-700 hover:bg-slate-100"}`;
  const nav = (
    <>
      <NavLink to="/" end className={link} onClick={() => setOpen(false)}>
        Concerts
      </NavLink>
      {user && (
        <NavLink to="/account" className={link} onClick={() => setOpen(false)}>
          My tickets
        </NavLink>
      )}
      {user?.role === "admin" && (
        <NavLink to="/organiser" className={link} onClick={() => setOpen(false)}>
          Organiser
        </NavLink>
      )}
    </>
  );
  const account = user ? (
    <div className="flex items-center gap-3">
      <span className="hidden text-sm text-slate-600 md:inline" data-testid="signed-in-as">
        {user.name}
      </span>
      <button
        type="button"
        className="btn-secondary py-1.5"
        onClick={() => {
          logout();
          setOpen(false);
          navigate("/");
        }}
      >
        Log out
      </button>
    </div>
  ) : (
    <div className="flex items-center gap-2">
      <Link to="/login" className="btn-secondary py-1.5" onClick={() => setOpen(false)}>
        Log in
      </Link>
      <Link to="/signup" className="btn-primary py-1.5" onClick={() => setOpen(false)}>
        Sign up
      </Link>
    </div>
  );
  return (
    <header className="sticky top-0 z-20 border-b border-slate-200 bg-white/95 backdrop-blur">
      <div className="mx-auto flex max-w-6xl items-center justify-between gap-4 px-4 py-3 sm:px-6">
        <Link to="/" className="flex items-center gap-2 text-lg font-bold text-brand-700">
          <img src="/favicon.svg" alt="" className="h-7 w-7" />
          Encore
        </Link>
        <nav className="hidden flex-1 items-center gap-1 sm:flex" aria-label="Main">
          {nav}
        </nav>
        <div className="hidden sm:block">{account}</div>
        <button
          type="button"
          className="btn-secondary px-3 py-1.5 sm:hidden"
          aria-expanded={open}
          aria-controls="mobile-nav"
          onClick={() => setOpen((o) => !o)}
        >
          Menu
        </button>
      </div>
      {open && (
        <div id="mobile-nav" className="space-y-3 border-t border-slate-200 px-4 py-3 sm:hidden">
          <nav className="flex flex-col gap-1" aria-label="Main (mobile)">
            {nav}
          </nav>
          {account}
        </div>
      )}
    </header>
  );
}

function SessionEndedBanner() {
  const { endedReason, dismissEnded } = useAuth();
  const location = useLocation();
  if (!endedReason) return null;
  return (
    <div className="mx-auto w-full max-w-6xl px-4 pt-4 sm:px-6">
      <Notice tone="warning" title="You were logged out">
        {endedReason}{" "}
        <Link
          className="font-semibold underline"
          to={`/login?next=${encodeURIComponent(location.pathname + location.search)}`}
          onClick={dismissEnded}
        >
          Log in
        </Link>
      </Notice>
    </div>
  );
}
