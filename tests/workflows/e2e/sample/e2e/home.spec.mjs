// A sample spec as an app writes it: tagged @smoke, it is in production's read-only set.
import { expect, test } from "@playwright/test";

test("the home page counts clicks @smoke", async ({ page }) => {
  await page.goto("/");
  await expect(page.getByRole("heading")).toHaveText("Hello");
  await page.getByRole("button", { name: "Add" }).click();
  await expect(page.locator("#count")).toHaveText("1");
});

test("a page that writes data (not in the smoke set)", async ({ page }) => {
  await page.goto("/");
  await page.getByRole("button", { name: "Add" }).click();
  await page.getByRole("button", { name: "Add" }).click();
  // SAMPLE_FAILS: the test fails, so that its trace and screenshot are kept.
  await expect(page.locator("#count")).toHaveText(process.env.SAMPLE_FAILS ? "3" : "2", {
    timeout: 2000,
  });
});
