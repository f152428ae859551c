/*!
The `#[operation]` attribute of `tac-store`: each public store operation is
declared once, as the repository function that runs it.

`tac-store` compiles its repository (`src/repo/`) once per backend, so a
function there exists as `sqlite::repo::f` and `postgres::repo::f`. Callers
want one method, `Store::f`, that picks the backend. Without help, that
method's signature and documentation would be written a second time in the
facade. This attribute writes it instead:

- On `async fn f(pool: &Pool, args…) -> R`, it adds `Store::f(&self, args…)`,
  which matches on the pool and calls the backend's `f`.
- On `async fn f(conn: &mut Conn, args…) -> R` (a read that can share a
  connection), it adds `Reader::f(&mut self, args…)` on the reader's
  connection, and `Store::f(&self, args…)`, which opens a reader for the one
  read.

The methods carry the function's documentation and attributes. They are
wrapped in `facade! { … }`, a macro each backend module defines before it
includes the repository: the SQLite one keeps them and the PostgreSQL one
drops them, so each method is generated once although the function is
compiled twice.
*/

use proc_macro::TokenStream;
use proc_macro2::TokenStream as Tokens;
use quote::quote;
use syn::{FnArg, ItemFn, Pat, Type, parse_macro_input, spanned::Spanned};

/// Declares a store operation; see the crate documentation.
#[proc_macro_attribute]
pub fn operation(attr: TokenStream, item: TokenStream) -> TokenStream {
    if !attr.is_empty() {
        let attr = Tokens::from(attr);
        return syn::Error::new(attr.span(), "#[operation] takes no arguments").to_compile_error().into();
    }
    let function = parse_macro_input!(item as ItemFn);
    match expand(&function) {
        Ok(tokens) => tokens.into(),
        Err(error) => error.to_compile_error().into(),
    }
}

/// What the first parameter says the operation runs on.
enum Runs {
    /// `pool: &Pool`: a method on `Store`.
    OnPool,
    /// `conn: &mut Conn`: a method on `Reader`, and one on `Store` through a reader.
    OnConnection,
}

fn expand(function: &ItemFn) -> syn::Result<Tokens> {
    let sig = &function.sig;
    if sig.asyncness.is_none() {
        return Err(syn::Error::new(sig.span(), "a store operation is an `async fn`"));
    }
    let mut inputs = sig.inputs.iter();
    let runs = match inputs.next() {
        Some(FnArg::Typed(first)) => runs_on(&first.ty)?,
        other => {
            return Err(syn::Error::new(other.span(), "the first parameter is `pool: &Pool` or `conn: &mut Conn`"));
        }
    };
    let mut params = Vec::new();
    let mut names = Vec::new();
    for input in inputs {
        let FnArg::Typed(typed) = input else {
            return Err(syn::Error::new(input.span(), "a store operation takes no `self`"));
        };
        let Pat::Ident(pat) = &*typed.pat else {
            return Err(syn::Error::new(typed.pat.span(), "name each parameter with a plain identifier"));
        };
        let (name, ty) = (&pat.ident, &typed.ty);
        params.push(quote!(#name: #ty));
        names.push(quote!(#name));
    }

    let attrs = &function.attrs;
    let name = &sig.ident;
    let generics = &sig.generics;
    let where_clause = &sig.generics.where_clause;
    let output = &sig.output;
    let methods = match runs {
        Runs::OnPool => quote! {
            impl crate::Store {
                #(#attrs)*
                pub async fn #name #generics (&self, #(#params),*) #output #where_clause {
                    match self {
                        crate::Store::Sqlite(pool) => crate::sqlite::repo::#name(pool, #(#names),*).await,
                        crate::Store::Postgres(pool) => crate::postgres::repo::#name(pool, #(#names),*).await,
                    }
                }
            }
        },
        Runs::OnConnection => quote! {
            impl crate::Reader {
                #(#attrs)*
                pub async fn #name #generics (&mut self, #(#params),*) #output #where_clause {
                    match self.connection() {
                        crate::reader::Connection::Sqlite(conn) => crate::sqlite::repo::#name(conn, #(#names),*).await,
                        crate::reader::Connection::Postgres(conn) => crate::postgres::repo::#name(conn, #(#names),*).await,
                    }
                }
            }
            impl crate::Store {
                #(#attrs)*
                pub async fn #name #generics (&self, #(#params),*) #output #where_clause {
                    self.reader().await?.#name(#(#names),*).await
                }
            }
        },
    };
    let mut function = function.clone();
    function.vis = syn::parse_quote!(pub(crate));
    Ok(quote! {
        #function
        facade! { #methods }
    })
}

/// `&Pool` or `&mut Conn`, by the type's last path segment.
fn runs_on(ty: &Type) -> syn::Result<Runs> {
    let refused = || syn::Error::new(ty.span(), "the first parameter is `pool: &Pool` or `conn: &mut Conn`");
    let Type::Reference(reference) = ty else { return Err(refused()) };
    let Type::Path(path) = &*reference.elem else { return Err(refused()) };
    let last = path.path.segments.last().ok_or_else(refused)?.ident.to_string();
    match (last.as_str(), reference.mutability.is_some()) {
        ("Pool", false) => Ok(Runs::OnPool),
        ("Conn", true) => Ok(Runs::OnConnection),
        _ => Err(refused()),
    }
}
