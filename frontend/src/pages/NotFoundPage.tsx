import { Link } from "react-router-dom";
import { usePageTitle } from "../components/usePageTitle";

export function NotFoundPage() {
  usePageTitle("Page not found");
  return (
    <div className="card mx-auto max-w-md text-center">
      <h1 className="text-xl font-semibold">Page not found</h1>
      <p className="mt-2 text-sm text-slate-600">There is nothing at this address.</p>
      <Link to="/" className="btn-primary mt-4">
        Browse concerts
      </Link>
    </div>
  );
}
